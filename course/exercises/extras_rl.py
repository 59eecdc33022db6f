"""Exercises for the extra "Reinforcement learning: CartPole, LunarLander and Atari"."""

from __future__ import annotations

from course.exercises import Case, Exercise, choice, near, same_as
from course.syllabus import objective

NOTEBOOK = "e1-reinforcement-learning"

LOOP = objective(NOTEBOOK, "Write the agent-environment loop")
TRAIN = objective(NOTEBOOK, "Train DQN and")
DEVICE = objective(NOTEBOOK, "Measure why small")
ATARI = objective(NOTEBOOK, "Train a CNN policy on Atari")


def _q1_solve() -> float:
    gamma, steps = 0.99, 500  # +1 a step for CartPole-v1's longest episode
    return sum(gamma**k for k in range(steps))  # = (1 - gamma**500) / (1 - gamma)


_q1_check = near(_q1_solve(), rel=0.005, mistakes={
    500: "That is the undiscounted score of the episode; the return weighs step k by gamma**k.",
    100: "That is 1 / (1 - gamma), the return of an endless episode; this one stops after 500 steps.",
    sum(0.99**k for k in range(200)): "That is the return of 200 steps, the cap of the old CartPole-v0; v1 runs to "
                                      "500.",
    sum(0.99**k for k in range(1, 501)): "You discounted the first reward too: G_0 counts r_0 in full (gamma**0 = 1), "
                                         "then r_1 x gamma, ..., up to r_499 x gamma**499.",
})


q1 = Exercise(
    "q1",
    "CartPole-v1 gives +1 for every step the pole stays up, for at most 500 steps. An agent keeps the pole up "
    "for the whole 500 steps. With gamma = 0.99, what is the discounted return G_0 at the first step? "
    "(The evaluation table reports the undiscounted score, 500; the agents learn from G.)",
    _q1_check,
    "G_0 = 1 + 0.99 + 0.99**2 + ... + 0.99**499: your discounted_return of section 3 on 500 rewards of 1, or the "
    "geometric series (1 - 0.99**500) / (1 - 0.99).",
    _q1_solve,
    objective=LOOP,
)


def _q2_solve() -> str:
    return "DQN"


q2 = Exercise(
    "q2",
    "Which algorithm keeps past transitions in a replay buffer and learns from them again and again: 'PPO' or 'DQN'?",
    choice("DQN", {
        "PPO": (
            "PPO is on-policy: it learns from the rollout it just collected and then throws it away. "
            "The other one keeps a buffer_size of past transitions."),
    }),
    "Look at the settings spelled out in train_ppo and train_dqn: which one has a buffer_size?",
    _q2_solve,
    objective=TRAIN,
    wrong=(("A2C", "not one of the options"),),
    right=("dqn", " DQN "),
)


def _q3_solve() -> float:
    to_gpu, to_cpu, kernels, launch_us = 10, 10, 6, 5
    return to_gpu + to_cpu + kernels * launch_us  # the arithmetic itself is negligible at this size


_q3_check = near(_q3_solve(), rel=0.02, unit="µs", mistakes={
    30: "You counted the kernel launches but not the two copies.",
    20: "You counted the copies but not the six kernel launches.",
    40: "You counted one copy only: the observations go to the GPU and the actions come back.",
    25: "You counted one launch only; each of the 6 kernels costs its own 5 µs launch.",
    50e-6: "That is in seconds; the question asks for µs (microseconds).",
    0.05: "That is in milliseconds; the question asks for µs (1 ms = 1000 µs).",
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


q4 = Exercise(
    "q4",
    "Predict before you measure. Section 8 trains PPO with SB3's CnnPolicy on Atari: each observation is 4 "
    "stacked 84 x 84 grey frames, 8 game copies run together, and each update runs the network forward and "
    "backward on batches of 256 observations. Which device trains it faster: 'cpu' or 'gpu'?",
    choice("gpu", {
        "cpu": (
            "a CNN over batches of 4 x 84 x 84 frames is millions of multiply-adds per observation, a thousand "
            "times the CartPole MLP: enough work to keep a GPU busy, so the fixed costs of section 7 no longer "
            "dominate."),
    }),
    "Compare the work per observation: the CartPole MLP does a few thousand multiply-adds; a convolution over "
    "4 x 84 x 84 pixels, millions. SB3's warning names the exception itself: 'when not using a CNN policy'.",
    _q4_solve,
    objective=ATARI,
    wrong=(("tpu", "not one of the options"),),
    right=("GPU", "'gpu'"),
)


def discounted_returns(rewards: list[float], dones: list[bool], gamma: float) -> list[float]:
    """G_t = r_t + gamma * G_{t+1}, restarting at 0 after every step that ended an episode."""
    returns, future = [0.0] * len(rewards), 0.0
    for t in reversed(range(len(rewards))):  # from the last step back to the first
        if dones[t]:
            future = 0.0  # nothing after the end of an episode belongs to this one
        future = float(rewards[t]) + gamma * future
        returns[t] = future
    return returns


def _returns_by_sums(rewards, dones, gamma):
    """Another style: for each step, the discounted sum of the rewards to the end of its episode (a double loop)."""
    out = []
    for t in range(len(rewards)):
        total, k = 0.0, t
        while k < len(rewards):
            total += gamma ** (k - t) * rewards[k]
            if dones[k]:
                break
            k += 1
        out.append(total)
    return out


def _returns_numpy_float32(rewards, dones, gamma):
    """Another style: NumPy arrays, a mask instead of an if, and a float32 array as the result."""
    import numpy as np

    r = np.asarray(rewards, dtype=np.float32)
    keep = 1.0 - np.asarray(dones, dtype=np.float32)  # 0 where an episode ended
    out, future = np.zeros_like(r), np.float32(0.0)
    for t in range(len(r) - 1, -1, -1):
        future = r[t] + np.float32(gamma) * keep[t] * future
        out[t] = future
    return out


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


def _reset_too_late(rewards, dones, gamma):
    returns, future = [0.0] * len(rewards), 0.0
    for t in reversed(range(len(rewards))):
        future = rewards[t] + gamma * future
        returns[t] = future
        if dones[t]:
            future = 0.0
    return returns


def _discounted_from_gamma(rewards, dones, gamma):
    returns, future = [0.0] * len(rewards), 0.0
    for t in reversed(range(len(rewards))):
        if dones[t]:
            future = 0.0
        future = gamma * (rewards[t] + future)  # the step's own reward discounted too
        returns[t] = future
    return returns


def _integer_array(rewards, dones, gamma):
    import numpy as np

    rewards = np.asarray(rewards)
    returns, future = np.zeros_like(rewards), 0.0  # an integer array when the rewards are integers
    for t in reversed(range(len(rewards))):
        if dones[t]:
            future = 0.0
        future = rewards[t] + gamma * future
        returns[t] = future  # truncated to a whole number
    return returns.tolist()


def _reversed_list(rewards, dones, gamma):
    returns, future = [], 0.0
    for t in reversed(range(len(rewards))):
        if dones[t]:
            future = 0.0
        future = rewards[t] + gamma * future
        returns.append(future)  # the last step's return first
    return returns


def _normalised(rewards, dones, gamma):
    import numpy as np

    returns = np.asarray(discounted_returns(rewards, dones, gamma))
    return (returns - returns.mean()) / (returns.std() + 1e-8)  # a training trick, applied after the returns


def _overwrites_rewards(rewards, dones, gamma):
    future = 0.0
    for t in reversed(range(len(rewards))):
        if dones[t]:
            future = 0.0
        future = rewards[t] + gamma * future
        rewards[t] = future  # the caller's rewards are gone
    return rewards


def _returns_torch(rewards, dones, gamma):
    """Another style: a float32 torch tensor filled backwards, the episode ends as a 0/1 mask."""
    import torch

    r = torch.as_tensor(rewards, dtype=torch.float32)
    keep = 1.0 - torch.as_tensor(dones, dtype=torch.float32)
    out = torch.zeros(len(r))
    for t in range(len(r) - 1, -1, -1):
        out[t] = r[t] + gamma * keep[t] * (out[t + 1] if t + 1 < len(r) else 0.0)
    return out


def _return_cases() -> list[Case]:
    import numpy as np

    return [
        Case("rewards 0, 0, 10 with gamma 0.99 (a late reward; the rollout stops before the episode ends)",
             ([0.0, 0.0, 10.0], [False, False, False], 0.99)),
        Case("one CartPole episode of 4 steps (+1 each), gamma 0.9", ([1.0, 1.0, 1.0, 1.0], [False, False, False, True], 0.9)),
        Case("two episodes back to back (the first ends after its third step), gamma 0.5",
             ([1.0, 2.0, 3.0, 4.0, 5.0], [False, False, True, False, False], 0.5)),
        Case("integer rewards (a list of ints) with gamma 0.9", ([1, 0, 2, 1], [False, False, True, True], 0.9)),
        Case("a NumPy array of integer rewards with gamma 0.5, two episodes",
             (np.array([3, 1, 4, 1, 5]), np.array([False, True, False, False, True]), 0.5)),
        Case("gamma 0: each return is its own reward", ([3.0, -1.0, 2.0], [False, True, False], 0.0)),
        Case("integer rewards with gamma 1 (the score still to come), an episode of one step in the middle",
             ([2, -1, 4, 1, 3], [False, True, True, False, True], 1)),
        Case("NumPy arrays (float32 rewards, bool dones) from a rollout buffer, three episodes, gamma 0.8",
             (np.array([0.5, -1.0, 2.0, 0.0, 1.5, 1.0], dtype=np.float32),
              np.array([False, True, False, True, False, False]), 0.8)),
        Case("no steps at all", ([], [], 0.9)),
    ]


q5 = Exercise(
    "q5",
    "Write discounted_returns(rewards, dones, gamma): for every step t of a rollout, the discounted return "
    "G_t = r_t + gamma * G_{t+1}, where the sum stops at the end of an episode: after a step with "
    "dones[t] True, nothing later counts. rewards and dones are lists (or 1-D NumPy arrays) of the same length; "
    "return one float per step (a list or an array).",
    same_as(discounted_returns, _return_cases, mistakes=[
        (_ignores_dones, "your returns run across the end of an episode: when dones[t] is True, the rewards "
                         "after step t belong to the next episode and must not count."),
        (_forward_sum, "you summed the past rewards; a return looks forward, from step t to the end of its "
                       "episode: loop from the last step back to the first."),
        (_not_discounted, "you added the future rewards without discounting: multiply each step further away "
                          "by one more gamma."),
        (_reset_too_late, "you reset the running return after using it at the step that ended an episode: reset "
                          "it before, so that this step gets its own reward only."),
        (_discounted_from_gamma, "you discounted each step's own reward too: G_t counts r_t in full, then "
                                 "gamma * G_{t+1} (future = rewards[t] + gamma * future)."),
        (_integer_array, "your returns were cut to whole numbers: np.zeros_like (or torch.zeros_like) of integer "
                         "rewards makes an integer array. Make the result float (dtype=float, or a list of floats)."),
        (_reversed_list, "your returns are in reverse order: you appended them from the last step back; put "
                         "G_t at position t (fill a list of len(rewards), or reverse it at the end)."),
        (_normalised, "you normalised the returns (minus their mean, over their std): that is a trick some "
                      "trainers apply afterwards; return G_t itself."),
    ], alternatives=[_returns_by_sums, _returns_numpy_float32, _returns_torch],
        expects="your discounted_returns function"),
    "Loop t from len(rewards) - 1 down to 0 with a running future = 0.0: reset it to 0 if dones[t], then "
    "future = rewards[t] + gamma * future, and store it.",
    lambda: discounted_returns,
    objective=LOOP,
    wrong=((_overwrites_rewards, "in place"),),
)


def _q6_solve() -> float:
    transitions, frames, side = 100_000, 4, 84  # the zoo's DQN buffer_size for Atari; 4 stacked 84 x 84 frames
    observation_bytes = frames * side * side  # uint8: one byte a pixel
    return transitions * 2 * observation_bytes / 2**30  # the observation and the next observation


_q6_check = near(_q6_solve(), rel=0.02, unit="GiB", mistakes={
    _q6_solve() / 2: "That stores each observation once; SB3's replay buffer keeps the next observation of every "
                     "transition too (unless optimize_memory_usage=True).",
    _q6_solve() * 4: "That counts 4 bytes a pixel (float32); the buffer keeps frames in the observation space's "
                     "dtype, uint8: one byte a pixel.",
    _q6_solve() * 2**30 / 1e9: "That is in GB (10**9 bytes); the question asks for GiB (2**30 bytes).",
    _q6_solve() * 10: "That is a buffer of 1,000,000 transitions, the DQN paper's; the zoo keeps 100,000.",
    _q6_solve() / 4: "An observation is 4 stacked frames, not one.",
    _q6_solve() * 2**30 / 2**20: "That is in MiB (2**20 bytes); divide by 2**30 for GiB.",
    _q6_solve() * 3: "The frames are grey: one channel, one byte a pixel, not three (RGB).",
    _q6_solve() / 2 * 2**30 / 1e9: "That stores each observation once, and in GB: count the next observation too, "
                                   "and divide by 2**30 for GiB.",
})


q6 = Exercise(
    "q6",
    "The zoo's DQN for Atari keeps buffer_size = 100,000 transitions. Each observation is 4 stacked 84 x 84 grey "
    "frames of uint8 (one byte a pixel), and SB3's replay buffer stores both the observation and the next "
    "observation of every transition. How many GiB of RAM does the buffer take? (1 GiB = 2**30 bytes; ignore "
    "the actions and rewards.)",
    _q6_check,
    "100,000 transitions x 2 observations x (4 x 84 x 84) bytes, divided by 2**30.",
    _q6_solve,
    objective=ATARI,
)
