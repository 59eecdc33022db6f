"""Extra e1's helpers: the random baseline, the RL Zoo settings, a training run's records."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import rl


def test_random_policy_baseline_is_seeded_and_far_below_the_cartpole_cap():
    a = rl.random_rewards("CartPole-v1", episodes=5, seed=3)
    b = rl.random_rewards("CartPole-v1", episodes=5, seed=3)
    assert np.array_equal(a, b)
    assert 5 < a.mean() < 100  # a random policy keeps the pole up for a few dozen steps


def test_zoo_settings_take_overrides_and_name_the_known_pairs_when_missing():
    hp = rl.settings("ppo", "CartPole-v1", n_steps=8)
    assert hp["n_steps"] == 8 and hp["n_envs"] == 8 and rl.ZOO[("PPO", "CartPole-v1")]["n_steps"] == 32
    with pytest.raises(KeyError, match="known: PPO on CartPole-v1"):
        rl.settings("A2C", "CartPole-v1")


def test_training_run_records_finished_episodes_and_its_speed():
    run = rl.train("PPO", "CartPole-v1", 512, seed=0, n_steps=32, n_epochs=1)
    assert run.timesteps == 512 and run.seconds > 0 and run.steps_per_s > 0
    assert len(run.rewards) == len(run.steps) > 0
    assert all(r >= 1 for r in run.rewards) and run.steps == sorted(run.steps)
    rewards = rl.evaluate(run.model, "CartPole-v1", episodes=2, seed=5)
    assert rewards.shape == (2,) and (rewards >= 1).all()
    assert rl.step_latency(run.model, "cpu", repeats=5) > 0
