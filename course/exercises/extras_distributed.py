"""Exercises for the extra "Beyond one GPU" (DDP, torchrun, accelerate)."""

from __future__ import annotations

from typing import Any

from course.exercises import Exercise, near

NOTEBOOK = "e7-beyond-one-gpu"

GIB = 2**30


def _q1_solve() -> int:
    global_batch, ranks = 256, 4
    return global_batch // ranks  # each rank takes its own slice of the global batch


def _q1_check(answer: Any) -> str | None:
    if isinstance(answer, bool) or not isinstance(answer, int | float):
        return f"expected a number of images, got {type(answer).__name__}."
    if answer == _q1_solve():
        return None
    if answer == 256:
        return "256 is the global batch, summed over the ranks; each rank sees only its slice."
    if answer == 256 * 4:
        return "the ranks split the global batch between them; they do not each take a whole one."
    return f"{answer:g} images is not it: divide the global batch among the ranks."


q1 = Exercise(
    "q1",
    "You launch the training script with 4 ranks and GLOBAL_BATCH = 256. How many images does each rank "
    "process per step?",
    _q1_check,
    "Look at per_rank_batch in the table of section 3, and at how train() computes it.",
    _q1_solve,
)


def _q2_solve() -> str:
    return "no"  # DDP keeps a whole copy of weights, gradients and optimizer state on every GPU


def _q2_check(answer: Any) -> str | None:
    if not isinstance(answer, str) or answer.strip().lower() not in ("yes", "no"):
        return "answer 'yes' or 'no'."
    if answer.strip().lower() == "yes":
        return ("two cards give 24 GB in total, but DDP does not pool it: every rank holds the whole model, "
                "its gradients and its optimizer state. Only sharding (FSDP, ZeRO-3) splits them.")
    return None


q2 = Exercise(
    "q2",
    "The planner says a full bf16 fine-tune of Llama-3.2-1B needs about 12.6 GiB on one GPU. Does it fit "
    "with DDP on two 12 GB cards? ('yes' or 'no')",
    _q2_check,
    "What does each rank hold under DDP? Look at the first column of the table in section 7.",
    _q2_solve,
)


def _q3_solve() -> float:
    gradients_gib, gpus = 2.3, 4
    return 2 * (gpus - 1) / gpus * gradients_gib  # a ring all-reduce: reduce-scatter, then all-gather


_q3_check = near(_q3_solve(), rel=0.03, unit="GiB", mistakes={
    2.3: "That is the gradient size itself; a ring all-reduce moves it about twice.",
    4.6: "Close: each GPU already holds its own share, so multiply by (N-1)/N too.",
    1.725: "A ring all-reduce has two phases (reduce-scatter, then all-gather): count both.",
})


q3 = Exercise(
    "q3",
    "A model has 2.3 GiB of bf16 gradients. With DDP on 4 GPUs and a ring all-reduce, about how many GiB "
    "does each GPU send per step?",
    _q3_check,
    "Section 7 gives the rule: about 2 * (N - 1) / N times the gradient bytes per GPU.",
    _q3_solve,
)


def _q4_solve() -> float:
    lr, old_ranks, new_ranks = 0.1, 2, 4
    return lr * new_ranks / old_ranks  # linear scaling rule: the global batch doubled, so double the lr


_q4_check = near(_q4_solve(), rel=0.01, mistakes={
    0.1: "The per-rank batch stayed the same, so the global batch doubled: scale the lr.",
    0.05: "A larger batch averages away more noise, so it takes a larger step, not a smaller one.",
})


q4 = Exercise(
    "q4",
    "You trained with lr = 0.1 on 2 ranks of 32 images each. You move to 4 ranks, still 32 images each. "
    "By the linear scaling rule (Goyal et al., 2017), what learning rate should you start from?",
    _q4_check,
    "The rule: when the global batch is multiplied by k, multiply the learning rate by k (with a warm-up).",
    _q4_solve,
)
