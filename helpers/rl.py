"""Reinforcement learning with stable-baselines3: the bookkeeping around the learner's own calls.

The notebook writes the agent-environment loop (``env.reset`` / ``env.step``) and the stable-baselines3 calls
(``PPO(...)``, ``DQN(...)``, ``.learn(...)``) itself, with the RL Zoo's settings spelled out. This module keeps what a
learner would rather not retype: ``ZOO``, the zoo's settings with their source (the tests check that the notebook
spells the same ones); ``recorder(log)``, an SB3 callback that fills an :class:`EpisodeLog` with every finished
episode's reward, times the run and moves a progress bar; greedy evaluation episodes; a timing of one acting step of
a policy on a device; and the reward-curve plot.

Taught in extra e1 (e1-reinforcement-learning).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Hyperparameters from the RL Baselines3 Zoo (github.com/DLR-RM/rl-baselines3-zoo, hyperparams/ppo.yml and
# hyperparams/dqn.yml, as of its commit 22e3ff2, April 2026), the settings SB3's authors tuned per environment.
# "timesteps" is the zoo's n_timesteps; a "lin_" schedule (falls linearly to 0 over the run) is written
# ("lin", start). "atari" is the zoo's entry for every Atari game, used with 4 stacked frames of 84 x 84 grey pixels.
ZOO: dict[tuple[str, str], dict[str, Any]] = {
    ("PPO", "CartPole-v1"): dict(timesteps=100_000, n_envs=8, n_steps=32, batch_size=256, gae_lambda=0.8,
                                 gamma=0.98, n_epochs=20, ent_coef=0.0, learning_rate=("lin", 1e-3),
                                 clip_range=("lin", 0.2)),
    ("DQN", "CartPole-v1"): dict(timesteps=50_000, n_envs=1, learning_rate=2.3e-3, batch_size=64,
                                 buffer_size=100_000, learning_starts=1000, gamma=0.99, target_update_interval=10,
                                 train_freq=256, gradient_steps=128, exploration_fraction=0.16,
                                 exploration_final_eps=0.04, policy_kwargs=dict(net_arch=[256, 256])),
    ("PPO", "LunarLander-v3"): dict(timesteps=1_000_000, n_envs=16, n_steps=1024, batch_size=64,
                                    gae_lambda=0.98, gamma=0.999, n_epochs=4, ent_coef=0.01),
    ("DQN", "LunarLander-v3"): dict(timesteps=100_000, n_envs=1, learning_rate=6.3e-4, batch_size=128,
                                    buffer_size=50_000, learning_starts=0, gamma=0.99, target_update_interval=250,
                                    train_freq=4, gradient_steps=-1, exploration_fraction=0.12,
                                    exploration_final_eps=0.1, policy_kwargs=dict(net_arch=[256, 256])),
    ("PPO", "atari"): dict(timesteps=10_000_000, n_envs=8, policy="CnnPolicy", n_steps=128, n_epochs=4,
                           batch_size=256, learning_rate=("lin", 2.5e-4), clip_range=("lin", 0.1), vf_coef=0.5,
                           ent_coef=0.01),
    ("DQN", "atari"): dict(timesteps=10_000_000, n_envs=1, policy="CnnPolicy", buffer_size=100_000,
                           learning_rate=1e-4, batch_size=32, learning_starts=100_000, target_update_interval=1000,
                           train_freq=4, gradient_steps=1, exploration_fraction=0.1, exploration_final_eps=0.01),
}

# The zoo's benchmark (benchmark.md in the same repository: one run each, "not a quantitative benchmark"): the
# trained agent's mean score, and the environment steps it trained for (each Atari step is 4 frames).
ZOO_BENCHMARK: dict[tuple[str, str], tuple[float, int]] = {
    ("PPO", "PongNoFrameskip-v4"): (20.989, 10_000_000),
    ("PPO", "BreakoutNoFrameskip-v4"): (398.033, 10_000_000),
    ("DQN", "PongNoFrameskip-v4"): (20.602, 10_000_000),
    ("DQN", "BreakoutNoFrameskip-v4"): (358.327, 10_000_000),
    ("PPO", "CartPole-v1"): (500.0, 100_000),
    ("DQN", "CartPole-v1"): (500.0, 50_000),
}


@dataclass
class EpisodeLog:
    """What one training run did: every finished episode's reward and end step, and the time it took."""

    algo: str
    env_id: str
    timesteps: int
    steps: list[int] = field(default_factory=list)  # timestep at which each episode ended
    rewards: list[float] = field(default_factory=list)  # that episode's total reward
    seconds: float = 0.0

    @property
    def steps_per_s(self) -> float:
        """Environment steps per second of wall time, learning included."""
        return self.timesteps / self.seconds if self.seconds else 0.0

    def __str__(self) -> str:
        return (f"{self.algo} on {self.env_id}: {self.timesteps:,} steps in {self.seconds:.1f} s "
                f"({self.steps_per_s:,.0f} steps/s), {len(self.rewards)} finished episodes")


def settings(algo: str, env_id: str, **overrides: Any) -> dict[str, Any]:
    """The zoo's hyperparameters for this algorithm and environment ("atari" for any Atari game), overrides applied."""
    key = (algo.upper(), env_id)
    if key not in ZOO:
        known = ", ".join(f"{a} on {e}" for a, e in ZOO)
        raise KeyError(f"No tuned settings for {algo} on {env_id}; known: {known}. Pass every setting yourself.")
    return {**ZOO[key], **overrides}


def box2d_available() -> bool:
    """True if LunarLander can be built here (it needs the box2d and pygame-ce packages)."""
    try:
        import gymnasium as gym

        gym.make("LunarLander-v3").close()
    except Exception:  # noqa: BLE001 - DependencyNotInstalled, ImportError: all mean "not here"
        return False
    return True


def recorder(log: EpisodeLog, bar: bool = True) -> Any:
    """An SB3 callback for ``model.learn(..., callback=recorder(log))``: fills ``log``, times the run, shows progress."""
    from stable_baselines3.common.callbacks import BaseCallback
    from tqdm.auto import tqdm

    class Recorder(BaseCallback):
        def _on_training_start(self) -> None:
            self.start = time.perf_counter()
            self.bar = tqdm(total=log.timesteps, desc=f"{log.algo} on {log.env_id}", unit="step", mininterval=0.5,
                            disable=not bar)

        def _on_step(self) -> bool:
            for info in self.locals.get("infos", []):
                if "episode" in info:  # added by the Monitor wrapper (make_vec_env) when an episode ends
                    log.steps.append(self.num_timesteps)
                    log.rewards.append(float(info["episode"]["r"]))
            self.bar.n = min(self.num_timesteps, log.timesteps)
            if log.rewards:
                self.bar.set_postfix(last_reward=log.rewards[-1], refresh=False)
            if self.n_calls % 200 == 0:
                self.bar.refresh()
            return True

        def _on_training_end(self) -> None:
            log.seconds += time.perf_counter() - self.start
            self.bar.n = min(self.num_timesteps, log.timesteps)
            self.bar.close()

    return Recorder()


def evaluate(model: Any, env: Any, episodes: int = 10, seed: int = 1000, deterministic: bool = True) -> np.ndarray:
    """Rewards of ``episodes`` evaluation episodes (greedy by default) on an env id or a vectorised env."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    own = isinstance(env, str)
    if own:
        env = make_vec_env(env, n_envs=1, seed=seed)
    rewards, _ = evaluate_policy(model, env, n_eval_episodes=episodes, deterministic=deterministic,
                                 return_episode_rewards=True)
    if own:
        env.close()
    return np.asarray(rewards, dtype=float)


def step_latency(model: Any, device: str, n_envs: int = 8, repeats: int = 300) -> float:
    """Median seconds for one acting step of the policy: observations in, actions out, on a device."""
    import torch

    from helpers import gpu

    policy = model.policy.to(device)
    obs = np.zeros((n_envs, *model.observation_space.shape), dtype=model.observation_space.dtype)
    times = []
    with torch.no_grad():
        for _ in range(repeats + 20):
            start = time.perf_counter()
            tensor = policy.obs_to_tensor(obs)[0]  # numpy -> device (and scaled, for images), as SB3 does every step
            actions = policy._predict(tensor, deterministic=True)
            actions.cpu().numpy()  # device -> numpy for env.step
            gpu.sync(device)
            times.append(time.perf_counter() - start)
    policy.to(model.device)
    return float(np.median(times[20:]))


def plot_rewards(logs: list[EpisodeLog], baseline: float | None = None, window: int = 20, ax: Any = None) -> Any:
    """Episode reward against timesteps for each run (raw, faint; moving average, bold)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    for k, log in enumerate(logs):
        steps, rewards = np.asarray(log.steps), np.asarray(log.rewards)
        if len(rewards) == 0:
            continue
        ax.plot(steps, rewards, color=f"C{k}", alpha=0.25, lw=0.8)
        w = max(1, min(window, len(rewards)))
        smooth = np.convolve(rewards, np.ones(w) / w, mode="valid")
        ax.plot(steps[w - 1:], smooth, color=f"C{k}", lw=2, label=f"{log.algo} ({w}-episode mean)")
    if baseline is not None:
        ax.axhline(baseline, color="grey", ls="--", lw=1, label="random policy")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode reward")
    ax.set_title(f"Learning curves on {logs[0].env_id}" if logs else "Learning curves")
    ax.legend(fontsize=8)
    return ax
