"""Exercises for the extra "Reinforcement learning: CartPole and LunarLander"."""

from __future__ import annotations

from typing import Any

from course.exercises import Exercise, near

NOTEBOOK = "e1-reinforcement-learning"


def _q1_solve() -> int:
    return 500  # CartPole-v1 pays +1 a step and truncates episodes at 500 steps


_q1_check = near(_q1_solve(), rel=0.0, mistakes={
    200: "200 was the cap of the old CartPole-v0; v1 runs to 500 steps.",
    1: "That is the reward of one step; an episode adds them up.",
})


q1 = Exercise(
    "q1",
    "CartPole-v1 gives +1 for every step the pole stays up. What is the highest total reward one episode can get?",
    _q1_check,
    "Look at the 'max' row of the evaluation table, or at gym.make('CartPole-v1').spec.max_episode_steps.",
    _q1_solve,
)


def _q2_solve() -> str:
    return "DQN"


def _q2_check(answer: Any) -> str | None:
    if not isinstance(answer, str) or answer.strip().upper() not in ("PPO", "DQN"):
        return "answer 'PPO' or 'DQN'."
    if answer.strip().upper() == "PPO":
        return ("PPO is on-policy: it learns from the rollout it just collected and then throws it away. "
                "The other one keeps a buffer_size of past transitions.")
    return None


q2 = Exercise(
    "q2",
    "Which algorithm keeps past transitions in a replay buffer and learns from them again and again: 'PPO' or 'DQN'?",
    _q2_check,
    "Look at the settings printed in section 3: which one has a buffer_size?",
    _q2_solve,
)


def _q3_solve() -> float:
    to_gpu, to_cpu, kernels, launch_us = 10, 10, 6, 5
    return to_gpu + to_cpu + kernels * launch_us  # the arithmetic itself is negligible at this size


_q3_check = near(_q3_solve(), rel=0.02, unit="µs", mistakes={
    30: "You counted the kernel launches but not the two copies.",
    20: "You counted the copies but not the six kernel launches.",
})


q3 = Exercise(
    "q3",
    "One acting step on a GPU copies the observations to it (10 µs), launches 6 kernels (about 5 µs of "
    "launch overhead each, the arithmetic itself is negligible) and copies the actions back (10 µs). "
    "How many µs does the step take?",
    _q3_check,
    "Add every fixed cost: two copies plus six launches.",
    _q3_solve,
)


def _q4_solve() -> str:
    return "gpu"


def _q4_check(answer: Any) -> str | None:
    if not isinstance(answer, str) or answer.strip().lower() not in ("cpu", "gpu"):
        return "answer 'cpu' or 'gpu'."
    if answer.strip().lower() == "cpu":
        return ("a CNN over batches of 84x84x4 images is millions of multiply-adds per step: enough work "
                "to keep a GPU busy, so the fixed costs you measured no longer dominate.")
    return None


q4 = Exercise(
    "q4",
    "You train PPO with a CNN policy on Atari frames (stacks of four 84x84 images, 8 environments). "
    "Which device should it train on: 'cpu' or 'gpu'?",
    _q4_check,
    "SB3's warning names the exception itself: 'when not using a CNN policy'.",
    _q4_solve,
)
