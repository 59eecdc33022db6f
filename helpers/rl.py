"""Reinforcement learning with stable-baselines3: tuned settings, a training run with its reward
curve, random-policy and evaluation episodes, and a timing of one policy step on CPU vs GPU.

stable-baselines3 (SB3) does the algorithms; this module only keeps the notebook short: it
records every finished episode while training (with a progress bar), and returns what a learner
wants to look at.

Taught in extra e1 (e1-reinforcement-learning).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Hyperparameters from the RL Baselines3 Zoo (github.com/DLR-RM/rl-baselines3-zoo,
# hyperparams/ppo.yml and hyperparams/dqn.yml), the settings SB3's authors tuned per environment.
# The zoo lists LunarLander under its older name v2; v3 is the same task with bug fixes.
# "timesteps" is the zoo's n_timesteps; "lin_" schedules are written as plain starting values.
ZOO: dict[tuple[str, str], dict[str, Any]] = {
    ("PPO", "CartPole-v1"): dict(timesteps=100_000, n_envs=8, n_steps=32, batch_size=256, gae_lambda=0.8,
                                 gamma=0.98, n_epochs=20, ent_coef=0.0, learning_rate=1e-3, clip_range=0.2),
    ("DQN", "CartPole-v1"): dict(timesteps=200_000, n_envs=1, learning_rate=2.5e-4, batch_size=512,
                                 buffer_size=100_000, learning_starts=0, gamma=0.99, target_update_interval=5000,
                                 train_freq=16, gradient_steps=4, exploration_fraction=0.06,
                                 exploration_final_eps=0.11),
    ("PPO", "LunarLander-v3"): dict(timesteps=1_000_000, n_envs=16, n_steps=1024, batch_size=64,
                                    gae_lambda=0.98, gamma=0.999, n_epochs=4, ent_coef=0.01),
    ("DQN", "LunarLander-v3"): dict(timesteps=150_000, n_envs=1, learning_rate=8.8e-4, batch_size=32,
                                    buffer_size=1_000_000, learning_starts=0, gamma=0.99,
                                    target_update_interval=10_000, train_freq=16, gradient_steps=-1,
                                    exploration_fraction=0.2, exploration_final_eps=0.1,
                                    policy_kwargs=dict(net_arch=[256, 256])),
}


@dataclass
class Run:
    """One training run: the model, every finished episode's reward, and the time it took."""

    algo: str
    env_id: str
    model: Any
    steps: list[int] = field(default_factory=list)  # timestep at which each episode ended
    rewards: list[float] = field(default_factory=list)  # that episode's total reward
    seconds: float = 0.0
    timesteps: int = 0

    @property
    def steps_per_s(self) -> float:
        """Environment steps per second of wall time, learning included."""
        return self.timesteps / self.seconds if self.seconds else 0.0


def box2d_available() -> bool:
    """True if LunarLander can be built here (it needs the box2d and pygame-ce packages)."""
    try:
        import gymnasium as gym

        gym.make("LunarLander-v3").close()
    except Exception:  # noqa: BLE001 - DependencyNotInstalled, ImportError: all mean "not here"
        return False
    return True


def settings(algo: str, env_id: str, **overrides: Any) -> dict[str, Any]:
    """The zoo's hyperparameters for this algorithm and environment, with overrides applied."""
    key = (algo.upper(), env_id)
    if key not in ZOO:
        known = ", ".join(f"{a} on {e}" for a, e in ZOO)
        raise KeyError(f"No tuned settings for {algo} on {env_id}; known: {known}. Pass every setting yourself.")
    return {**ZOO[key], **overrides}


def _callback(run: Run, total: int) -> Any:
    """An SB3 callback that records finished episodes and moves a tqdm.auto progress bar."""
    from stable_baselines3.common.callbacks import BaseCallback
    from tqdm.auto import tqdm

    class Recorder(BaseCallback):
        def _on_training_start(self) -> None:
            self.bar = tqdm(total=total, desc=f"{run.algo} on {run.env_id}", unit="step", mininterval=0.5)

        def _on_step(self) -> bool:
            for info in self.locals.get("infos", []):
                if "episode" in info:  # added by the Monitor wrapper when an episode ends
                    run.steps.append(self.num_timesteps)
                    run.rewards.append(float(info["episode"]["r"]))
            self.bar.n = min(self.num_timesteps, total)
            if run.rewards:
                self.bar.set_postfix(last_reward=run.rewards[-1], refresh=False)
            if self.n_calls % 200 == 0:
                self.bar.refresh()
            return True

        def _on_training_end(self) -> None:
            self.bar.n = min(self.num_timesteps, total)
            self.bar.close()

    return Recorder()


def train(algo: str, env_id: str, timesteps: int | None = None, seed: int = 0, device: str = "cpu",
          **overrides: Any) -> Run:
    """Train PPO or DQN (zoo settings unless overridden) and record every episode's reward."""
    import stable_baselines3 as sb3
    from stable_baselines3.common.env_util import make_vec_env

    hp = settings(algo, env_id, **overrides)
    total = int(timesteps or hp.pop("timesteps"))
    hp.pop("timesteps", None)
    env = make_vec_env(env_id, n_envs=hp.pop("n_envs", 1), seed=seed)
    model = getattr(sb3, algo.upper())("MlpPolicy", env, seed=seed, device=device, verbose=0, **hp)
    run = Run(algo=algo.upper(), env_id=env_id, model=model, timesteps=total)
    start = time.perf_counter()
    model.learn(total_timesteps=total, callback=_callback(run, total))
    run.seconds = time.perf_counter() - start
    env.close()
    return run


def evaluate(model: Any, env_id: str, episodes: int = 10, seed: int = 1000) -> np.ndarray:
    """Rewards of ``episodes`` evaluation episodes with the greedy (deterministic) policy."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    env = make_vec_env(env_id, n_envs=1, seed=seed)
    rewards, _ = evaluate_policy(model, env, n_eval_episodes=episodes, deterministic=True,
                                 return_episode_rewards=True)
    env.close()
    return np.asarray(rewards, dtype=float)


def random_rewards(env_id: str, episodes: int = 10, seed: int = 1000) -> np.ndarray:
    """Rewards of ``episodes`` episodes with uniformly random actions: the baseline to beat."""
    import gymnasium as gym

    env = gym.make(env_id)
    env.action_space.seed(seed)
    out = []
    for k in range(episodes):
        env.reset(seed=seed + k)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
        out.append(total)
    env.close()
    return np.asarray(out)


def step_latency(model: Any, device: str, n_envs: int = 8, repeats: int = 300) -> float:
    """Median seconds for one acting step of the policy: observations in, actions out, on a device."""
    import torch

    policy = model.policy.to(device)
    obs = np.zeros((n_envs, *model.observation_space.shape), dtype=np.float32)
    times = []
    with torch.no_grad():
        for _ in range(repeats + 20):
            start = time.perf_counter()
            tensor = torch.as_tensor(obs, device=device)  # numpy -> device, as SB3 does every step
            actions = policy._predict(tensor, deterministic=True)
            actions.cpu().numpy()  # device -> numpy for env.step
            times.append(time.perf_counter() - start)
    policy.to(model.device)
    return float(np.median(times[20:]))


def plot_rewards(runs: list[Run], baseline: float | None = None, window: int = 20, ax: Any = None) -> Any:
    """Episode reward against timesteps for each run (raw, faint; moving average, bold)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    for k, run in enumerate(runs):
        steps, rewards = np.asarray(run.steps), np.asarray(run.rewards)
        if len(rewards) == 0:
            continue
        ax.plot(steps, rewards, color=f"C{k}", alpha=0.25, lw=0.8)
        w = max(1, min(window, len(rewards)))
        smooth = np.convolve(rewards, np.ones(w) / w, mode="valid")
        ax.plot(steps[w - 1:], smooth, color=f"C{k}", lw=2, label=f"{run.algo} ({w}-episode mean)")
    if baseline is not None:
        ax.axhline(baseline, color="grey", ls="--", lw=1, label="random policy")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode reward")
    ax.set_title(f"Learning curves on {runs[0].env_id}" if runs else "Learning curves")
    ax.legend(fontsize=8)
    return ax
