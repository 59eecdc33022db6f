"""Exercises for the extra "Reinforcement learning: CartPole and LunarLander"."""

from __future__ import annotations

from course.exercises import Case, Exercise, choice, near, same_as
from course.syllabus import objective

NOTEBOOK = "e1-reinforcement-learning"

TRAIN = objective(NOTEBOOK, "Train DQN and")
JUDGE = objective(NOTEBOOK, "Read reward curves")
DEVICE = objective(NOTEBOOK, "Measure why small")


def _q1_solve() -> float:
    gamma, steps = 0.99, 500  # +1 a step for CartPole-v1's longest episode
    return sum(gamma**k for k in range(steps))  # = (1 - gamma**500) / (1 - gamma)


_q1_check = near(_q1_solve(), rel=0.005, mistakes={
    500: "That is the undiscounted score of the episode; the return weighs step k by gamma**k.",
    100: "That is 1 / (1 - gamma), the return of an endless episode; this one stops after 500 steps.",
    200: "200 steps was the cap of the old CartPole-v0; v1 runs to 500, and the return is discounted.",
})


q1 = Exercise(
    "q1",
    "CartPole-v1 gives +1 for every step the pole stays up, for at most 500 steps. An agent keeps the pole up "
    "for the whole 500 steps. With gamma = 0.99, what is the discounted return G_0 at the first step? "
    "(The evaluation table reports the undiscounted score, 500; the agents learn from G.)",
    _q1_check,
    "G_0 = 1 + 0.99 + 0.99**2 + ... + 0.99**499: a geometric series, (1 - 0.99**500) / (1 - 0.99).",
    _q1_solve,
    objective=TRAIN,
)


def _q2_solve() -> str:
    return "DQN"


_q2_check = choice("DQN", {
    "PPO": (
        "PPO is on-policy: it learns from the rollout it just collected and then throws it away. "
        "The other one keeps a buffer_size of past transitions."),
})


q2 = Exercise(
    "q2",
    "Which algorithm keeps past transitions in a replay buffer and learns from them again and again: 'PPO' or 'DQN'?",
    _q2_check,
    "Look at the settings printed in section 3: which one has a buffer_size?",
    _q2_solve,
    objective=TRAIN,
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
    objective=DEVICE,
)


def _q4_solve() -> str:
    return "gpu"


_q4_check = choice("gpu", {
    "cpu": (
        "a CNN over batches of 84x84x4 images is millions of multiply-adds per step: enough work to"
        " keep a GPU busy, so the fixed costs you measured no longer dominate."),
})


q4 = Exercise(
    "q4",
    "You train PPO with a CNN policy on Atari frames (stacks of four 84x84 images, 8 environments). "
    "Which device should it train on: 'cpu' or 'gpu'?",
    _q4_check,
    "SB3's warning names the exception itself: 'when not using a CNN policy'.",
    _q4_solve,
    objective=DEVICE,
)


def discounted_returns(rewards: list[float], dones: list[bool], gamma: float) -> list[float]:
    """G_t = r_t + gamma * G_{t+1}, restarting at 0 after every step that ended an episode."""
    returns, future = [0.0] * len(rewards), 0.0
    for t in reversed(range(len(rewards))):  # from the last step back to the first
        if dones[t]:
            future = 0.0  # nothing after the end of an episode belongs to this one
        future = rewards[t] + gamma * future
        returns[t] = future
    return returns


def _ignores_dones(rewards, dones, gamma):
    return discounted_returns(rewards, [False] * len(rewards), gamma)


def _forward_sum(rewards, dones, gamma):
    returns, past = [], 0.0
    for r in rewards:
        past = past * gamma + r
        returns.append(past)
    return returns


def _not_discounted(rewards, dones, gamma):
    return discounted_returns(rewards, dones, 1.0)


def _return_cases() -> list[Case]:
    return [
        Case("one CartPole episode of 4 steps (+1 each), gamma 0.9", ([1.0, 1.0, 1.0, 1.0], [False, False, False, True], 0.9)),
        Case("two episodes back to back (the first ends after its third step), gamma 0.5",
             ([1.0, 2.0, 3.0, 4.0, 5.0], [False, False, True, False, False], 0.5)),
        Case("rewards 0, 0, 10 with gamma 0.99 (a late reward)", ([0.0, 0.0, 10.0], [False, False, True], 0.99)),
        Case("gamma 0: each return is its own reward", ([3.0, -1.0, 2.0], [False, True, False], 0.0)),
        Case("no steps at all", ([], [], 0.9)),
    ]


q5 = Exercise(
    "q5",
    "Write discounted_returns(rewards, dones, gamma): for every step t of a rollout, the discounted return "
    "G_t = r_t + gamma * G_{t+1}, where the sum stops at the end of an episode: after a step with "
    "dones[t] True, nothing later counts. rewards and dones are lists of the same length; return a list of floats.",
    same_as(discounted_returns, _return_cases, mistakes=[
        (_ignores_dones, "your returns run across the end of an episode: when dones[t] is True, the rewards "
                         "after step t belong to the next episode and must not count."),
        (_forward_sum, "you summed the past rewards; a return looks forward, from step t to the end of its "
                       "episode: loop from the last step back to the first."),
        (_not_discounted, "you added the future rewards without discounting: multiply each step further away "
                          "by one more gamma."),
    ], expects="your discounted_returns function"),
    "Loop t from len(rewards) - 1 down to 0 with a running future = 0.0: reset it to 0 if dones[t], then "
    "future = rewards[t] + gamma * future, and store it.",
    lambda: discounted_returns,
    objective=TRAIN,
)
