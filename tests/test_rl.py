"""Extra e1: the notebook's own loop, returns and stable-baselines3 calls, run here on a few steps.

The notebook writes the episode loop, the discounted return and the ``PPO(...)`` / ``DQN(...)`` calls itself; these
tests import them with ``course.notebook_code`` and check them against gymnasium, the exercise's reference and the
RL Zoo's settings (``helpers.rl.ZOO``, with its source).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from course import notebook_code
from helpers import rl


@pytest.fixture(scope="module")
def nb():
    return notebook_code.definitions("e1", "run_episode", "discounted_return", "train_ppo", "train_dqn",
                                     "atari_preprocessing", "make_atari", "train_atari_ppo")


def test_the_episode_loop_plays_to_the_end_is_seeded_and_stops_at_a_time_limit(nb):
    env = gym.make("CartPole-v1")
    lean = lambda obs: int(obs[2] > 0)  # noqa: E731 - the notebook's rule
    a, b = nb.run_episode(env, lean, seed=3), nb.run_episode(env, lean, seed=3)
    assert a == b and 5 < len(a) < 500 and set(a) == {1.0}  # the pole falls: terminated
    short = gym.make("CartPole-v1", max_episode_steps=7)
    steady = lambda obs: int(obs[2] + obs[3] > 0)  # noqa: E731 - keeps the pole up far longer than 7 steps
    assert nb.run_episode(short, steady, seed=0) == [1.0] * 7  # truncated by the time limit


def test_the_discounted_return_is_the_geometric_series_and_the_exercises_first_return(nb):
    from course.exercises import extras_rl

    assert nb.discounted_return([1.0] * 500, 0.99) == pytest.approx((1 - 0.99**500) / (1 - 0.99))
    rewards = [0.5, -1.0, 2.0, 0.0, 3.0]
    for gamma in (0.0, 0.5, 0.9, 1.0):
        expected = extras_rl.discounted_returns(rewards, [False] * 4 + [True], gamma)[0]
        assert nb.discounted_return(rewards, gamma) == pytest.approx(expected)


def _schedule_start(value):
    return value(1.0) if callable(value) else value


@pytest.mark.slow
def test_the_notebooks_ppo_and_dqn_calls_spell_the_zoos_settings_and_record_episodes(nb):
    ppo, log = nb.train_ppo("CartPole-v1", 256)  # one rollout: 8 copies x 32 steps
    zoo = rl.ZOO[("PPO", "CartPole-v1")]
    assert ppo.n_envs == zoo["n_envs"] and ppo.device.type == "cpu"
    for name in ("n_steps", "batch_size", "gae_lambda", "gamma", "n_epochs", "ent_coef"):
        assert getattr(ppo, name) == zoo[name], name
    assert ppo.lr_schedule(1.0) == pytest.approx(zoo["learning_rate"][1]) and ppo.lr_schedule(0.0) == 0.0
    assert ppo.clip_range(1.0) == pytest.approx(zoo["clip_range"][1]) and ppo.clip_range(0.0) == 0.0
    assert log.timesteps == 256 and log.seconds > 0 and log.steps_per_s > 0
    assert len(log.rewards) == len(log.steps) > 0 and log.steps == sorted(log.steps) and min(log.rewards) >= 1
    rewards = rl.evaluate(ppo, "CartPole-v1", episodes=2, seed=5)
    assert rewards.shape == (2,) and (rewards >= 1).all()
    assert rl.step_latency(ppo, "cpu", repeats=5) > 0

    dqn, dqn_log = nb.train_dqn("CartPole-v1", 64)
    zoo = rl.ZOO[("DQN", "CartPole-v1")]
    assert dqn.n_envs == zoo["n_envs"] and dqn.train_freq.frequency == zoo["train_freq"]
    for name in ("learning_rate", "batch_size", "buffer_size", "learning_starts", "gamma", "target_update_interval",
                 "gradient_steps", "exploration_fraction", "exploration_final_eps"):
        assert getattr(dqn, name) == zoo[name], name
    hidden = [m.out_features for m in dqn.q_net.q_net if hasattr(m, "out_features")][:-1]
    assert hidden == zoo["policy_kwargs"]["net_arch"] and dqn_log.timesteps == 64


def test_changes_override_the_zoo_settings_and_nothing_else(nb):
    ppo, _ = nb.train_ppo("CartPole-v1", 64, n_steps=8, n_epochs=1)
    assert ppo.n_steps == 8 and ppo.n_epochs == 1 and ppo.batch_size == rl.ZOO[("PPO", "CartPole-v1")]["batch_size"]
    hp = rl.settings("ppo", "CartPole-v1", n_steps=8)
    assert hp["n_steps"] == 8 and hp["n_envs"] == 8 and rl.ZOO[("PPO", "CartPole-v1")]["n_steps"] == 32
    with pytest.raises(KeyError, match="known: PPO on CartPole-v1"):
        rl.settings("A2C", "CartPole-v1")


@pytest.mark.slow
def test_atari_frames_are_four_stacked_84x84_grey_frames_and_the_cnn_policy_trains_with_the_zoos_settings(nb):
    import ale_py

    gym.register_envs(ale_py)  # the notebook's statement next to its imports
    env = nb.make_atari("ALE/Pong-v5", 2)
    assert env.observation_space.shape == (4, 84, 84) and env.observation_space.dtype == np.uint8
    model, log = nb.train_atari_ppo(env, 64, n_steps=32, batch_size=64, policy_kwargs=dict(ortho_init=False))
    env.close()
    zoo = rl.ZOO[("PPO", "atari")]
    assert type(model.policy).__name__ == "ActorCriticCnnPolicy"
    assert type(model.policy.features_extractor).__name__ == "NatureCNN"
    for name in ("n_epochs", "vf_coef", "ent_coef"):
        assert getattr(model, name) == zoo[name], name
    assert model.lr_schedule(1.0) == pytest.approx(zoo["learning_rate"][1])
    assert model.clip_range(1.0) == pytest.approx(zoo["clip_range"][1])
    assert log.timesteps == 64 and log.steps_per_s > 0
    assert 1.6e6 < sum(p.numel() for p in model.policy.parameters()) < 1.8e6  # "about 1.7 million" in the notebook
    game = nb.atari_preprocessing(gym.make("ALE/Pong-v5", frameskip=1, repeat_action_probability=0.0))
    stack, _ = game.reset(seed=0)
    for _ in range(12):
        stack, *_ = game.step(2)  # RIGHT: the agent's paddle moves between the frames
    game.close()
    assert stack.shape == (4, 84, 84) and not np.array_equal(stack[0], stack[3])  # four different moments


def test_the_zoo_benchmark_names_its_steps_and_scores():
    score, steps = rl.ZOO_BENCHMARK[("PPO", "PongNoFrameskip-v4")]
    assert score == pytest.approx(21.0, abs=0.05) and steps == rl.ZOO[("PPO", "atari")]["timesteps"]
