"""Exercises for the extra "Beyond one GPU" (DDP, torchrun, accelerate)."""

from __future__ import annotations

from typing import Any

from course.exercises import Case, Exercise, as_number, near, same_as
from course.syllabus import objective

NOTEBOOK = "e7-beyond-one-gpu"

EXPLAIN = objective(NOTEBOOK, "Explain data parallelism:")
LAUNCH = objective(NOTEBOOK, "Launch one training")
DECIDE = objective(NOTEBOOK, "Decide between more")


def _q1_solve() -> int:
    global_batch, ranks = 256, 4
    return global_batch // ranks  # each rank takes its own slice of the global batch


def _q1_check(answer: Any) -> str | None:
    value = as_number(answer)
    if value is None:
        return f"expected a number of images, got {type(answer).__name__}."
    if value == _q1_solve():
        return None
    if value == 256:
        return "256 is the global batch, summed over the ranks; each rank sees only its slice."
    if value == 256 * 4:
        return "the ranks split the global batch between them; they do not each take a whole one."
    return f"{value:g} images is not it: divide the global batch among the ranks."


q1 = Exercise(
    "q1",
    "You launch the training script with 4 ranks and GLOBAL_BATCH = 256. How many images does each rank "
    "process per step?",
    _q1_check,
    "Look at per_rank_batch in the table of section 3, and at how train() computes it.",
    _q1_solve,
    objective=EXPLAIN,
    wrong=((256, "global batch"), (1024, "split the global batch"), (63.5, "divide the global batch"),
           ("64", "expected a number")),
)


def _q2_solve() -> float:
    states, rest, gpus = 14.0, 2.5, 4  # GiB: weights + gradients + AdamW states; activations and overhead
    return states / gpus + rest  # sharding splits the states; every GPU keeps its own activations and overhead


q2 = Exercise(
    "q2",
    "On one GPU, a full fine-tune needs 14 GiB for the weights, gradients and AdamW states, plus 2.5 GiB for "
    "activations and overhead. Sharded with FSDP (ZeRO-3) across 4 GPUs, about how many GiB does each GPU need?",
    near(_q2_solve(), rel=0.03, unit="GiB", mistakes={
        16.5: "That is what DDP needs on every GPU (a whole copy of everything); sharding splits the weights, "
              "gradients and optimizer states across the GPUs.",
        16.5 / 4: "Only the states are sharded: each GPU still runs its own forward and backward, so it keeps its "
                  "own activations and overhead (2.5 GiB) in full.",
        14.0 / 4: "Add the activations and overhead, which every GPU keeps in full.",
        14.0 / 2 + 2.5: "That is 2 GPUs; the question shards across 4.",
        14.0 + 2.5 / 4: "The other way round: FSDP shards the weights, gradients and optimizer states (14 GiB), and "
                        "every GPU keeps its own activations and overhead (2.5 GiB) in full.",
        6.0 * 2**30 / 1e9: "That is in GB (10^9 bytes); the sizes are in GiB, and so is the answer.",
    }),
    "Sharding divides the weights, gradients and optimizer states by the number of GPUs; activations and overhead "
    "stay whole on every GPU (the formula behind the FSDP columns of section 7's table).",
    _q2_solve,
    objective=DECIDE,
)


def _q3_solve() -> float:
    params, bytes_per_gradient, gpus = 3e9, 4, 4  # fp32 gradients: 4 bytes each
    gradients_gb = params * bytes_per_gradient / 1e9
    return 2 * (gpus - 1) / gpus * gradients_gb  # a ring all-reduce: reduce-scatter, then all-gather


_q3_check = near(_q3_solve(), rel=0.03, unit="GB", mistakes={
    12.0: "That is the gradient size itself; a ring all-reduce sends about twice that, times (N-1)/N.",
    24.0: "Close: each GPU already holds its own share of the sum, so multiply by (N-1)/N too.",
    9.0: "That is half the answer: a ring all-reduce has two phases (reduce-scatter, then all-gather), "
         "and fp32 gradients take 4 bytes each, not 2. Count both phases, at 4 bytes.",
    6.0: "That is the gradient size at 2 bytes a value; these gradients are fp32 (4 bytes), and the ring "
         "all-reduce sends about 2 (N-1)/N times them.",
    18e9 / 2**30: "That is in GiB (2^30 bytes); the question asks for GB (10^9 bytes).",
    72.0: "That is 2 (N-1) x 12 GB: each of the ring's 2 (N-1) steps sends one chunk of 12 / N GB, not the whole "
          "gradients: multiply by 2 (N-1)/N.",
    36.0: "That is (N-1) x 12 GB: each step of the ring sends one chunk of 12 / N GB, over 2 (N-1) steps.",
})


q3 = Exercise(
    "q3",
    "A 3-billion-parameter model is trained with fp32 gradients (4 bytes each) on 4 GPUs with DDP and a ring "
    "all-reduce. About how many GB (10^9 bytes) does each GPU send per step? (The table in section 7 uses "
    "bf16 gradients: compute this one yourself.)",
    _q3_check,
    "First the gradient bytes (parameters x 4). A ring all-reduce sends about 2 (N - 1) / N times that per GPU.",
    _q3_solve,
    objective=DECIDE,
)


def _q4_solve() -> float:
    lr, old_ranks, new_ranks = 0.1, 2, 4
    return lr * new_ranks / old_ranks  # linear scaling rule: the global batch doubled, so double the lr


_q4_check = near(_q4_solve(), rel=0.01, mistakes={
    0.1: "The per-rank batch stayed the same, so the global batch doubled: scale the lr.",
    0.05: "A larger batch averages away more noise, so it takes a larger step, not a smaller one.",
    0.1 * 2**0.5: "That is the square-root scaling rule; the linear rule multiplies the lr by k itself, "
                  "here 2 (the global batch grew from 64 to 128).",
    0.4: "The rule scales by how much the global batch grew (64 -> 128, so 2 times), not by the number of ranks.",
    0.025: "A larger batch takes a larger step: multiply the lr by how much the global batch grew (2 times).",
})


q4 = Exercise(
    "q4",
    "You trained with lr = 0.1 on 2 ranks of 32 images each. You move to 4 ranks, still 32 images each. "
    "By the linear scaling rule (Goyal et al., 2017), what learning rate should you start from?",
    _q4_check,
    "The rule: when the global batch is multiplied by k, multiply the learning rate by k (with a warm-up).",
    _q4_solve,
    objective=EXPLAIN,
)


def rank_indices(n: int, num_ranks: int, rank: int) -> list[int]:
    """The dataset indices one rank reads, like DistributedSampler(shuffle=False, drop_last=False)."""
    import math

    indices = list(range(n))
    total = math.ceil(n / num_ranks) * num_ranks  # every rank gets the same number of samples
    while len(indices) < total:  # pad by repeating indices from the start (several times if n is tiny)
        indices += indices[: total - len(indices)]
    return indices[rank:total:num_ranks]  # round-robin: rank r takes r, r + N, r + 2N, ...


def _with_numpy(n: int, num_ranks: int, rank: int) -> Any:
    import numpy as np

    per_rank = -(-n // num_ranks)  # ceil(n / num_ranks)
    padded = np.resize(np.arange(n), per_rank * num_ranks)  # np.resize repeats the array to the new length
    return padded[rank::num_ranks]  # an int array, not a list: the checker compares the values


def _with_cycle(n: int, num_ranks: int, rank: int) -> list[int]:
    import itertools
    import math

    total = math.ceil(n / num_ranks) * num_ranks
    padded = list(itertools.islice(itertools.cycle(range(n)), total))
    return [index for position, index in enumerate(padded) if position % num_ranks == rank]


def _no_padding(n: int, num_ranks: int, rank: int) -> list[int]:
    return list(range(rank, n, num_ranks))


def _dropped_the_tail(n: int, num_ranks: int, rank: int) -> list[int]:
    return list(range(rank, n - n % num_ranks, num_ranks))


def _contiguous_blocks(n: int, num_ranks: int, rank: int) -> list[int]:
    import math

    per_rank = math.ceil(n / num_ranks)
    padded = (list(range(n)) * num_ranks)[: per_rank * num_ranks]
    return padded[rank * per_rank:(rank + 1) * per_rank]


def _padded_once(n: int, num_ranks: int, rank: int) -> list[int]:
    import math

    total = math.ceil(n / num_ranks) * num_ranks
    indices = list(range(n))
    indices += indices[: total - n]  # one pass: too short when n < total - n
    return indices[rank::num_ranks]


def _padded_with_the_last(n: int, num_ranks: int, rank: int) -> list[int]:
    import math

    total = math.ceil(n / num_ranks) * num_ranks
    return (list(range(n)) + [n - 1] * (total - n))[rank::num_ranks]


def _always_padded(n: int, num_ranks: int, rank: int) -> list[int]:
    total = (n // num_ranks + 1) * num_ranks  # one row more even when n divides evenly
    return (list(range(n)) * (total // n + 1))[:total][rank::num_ranks]


def _float_indices(n: int, num_ranks: int, rank: int) -> Any:
    import numpy as np

    total = np.ceil(n / num_ranks) * num_ranks  # a float: np.arange(total) makes float indices
    return (np.arange(total) % n)[rank::num_ranks]


def _with_a_range(n: int, num_ranks: int, rank: int) -> Any:
    """Another style: a range when nothing needs padding, else the padded list's slice."""
    if n % num_ranks == 0:
        return range(rank, n, num_ranks)
    total = -(-n // num_ranks) * num_ranks
    return [i % n for i in range(total)][rank::num_ranks]


def _sampler_cases() -> list[Case]:
    return [Case("10 samples on 4 ranks, rank 1", (10, 4, 1)), Case("10 samples on 4 ranks, rank 3", (10, 4, 3)),
            Case("8 samples on 4 ranks, rank 2 (no padding needed)", (8, 4, 2)),
            Case("3 samples on 4 ranks, rank 3", (3, 4, 3)), Case("2 samples on 5 ranks, rank 4", (2, 5, 4)),
            Case("7 samples on 1 rank", (7, 1, 0))]


q5 = Exercise(
    "q5",
    "Write rank_indices(n, num_ranks, rank): the dataset indices that one rank reads in an epoch, as "
    "DistributedSampler does without shuffling. Rank r takes every num_ranks-th index starting at r; when n "
    "does not divide evenly, first pad the list 0..n-1 by repeating indices from its start until its length "
    "is a multiple of num_ranks, so that every rank gets the same number of samples.",
    same_as(rank_indices, _sampler_cases, mistakes=[
        (_float_indices, "your indices are not whole numbers: a dataset is indexed by ints; keep the arithmetic in "
                         "integers (math.ceil, //)."),
        (_padded_once, "you padded once, by indices[:total - n]; when n is smaller than the padding needed that is "
                       "too short: repeat from the start until the length is a multiple of num_ranks."),
        (_padded_with_the_last, "you padded with copies of one index; DistributedSampler repeats the indices from "
                                "the start (0, 1, 2, ...), so the extra samples are spread over the dataset."),
        (_always_padded, "you padded even when n divides evenly by num_ranks: then every rank already gets n / "
                         "num_ranks samples, and nothing is repeated (use ceil(n / num_ranks))."),
        (_no_padding, "the ranks got different numbers of samples: the rank with fewer would wait forever at "
                      "the next all-reduce. Pad the indices (repeat from the start) to a multiple of num_ranks."),
        (_dropped_the_tail, "you dropped the samples that did not divide evenly (that is drop_last=True); pad "
                            "by repeating indices from the start instead, so no sample is skipped."),
        (_contiguous_blocks, "you gave each rank a contiguous block; DistributedSampler deals the indices "
                             "round-robin: rank r takes r, r + N, r + 2N, ..."),
    ], alternatives=[_with_numpy, _with_cycle, _with_a_range],
        expects="your rank_indices function"),
    "indices = list(range(n)); grow it with indices[:total - len(indices)] until total = ceil(n / N) * N; "
    "return indices[rank:total:num_ranks].",
    lambda: rank_indices,
    objective=EXPLAIN,
)
