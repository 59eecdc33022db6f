"""Exercises for week 0, "Set up and check your GPU"."""

from __future__ import annotations

from typing import Any

from course.exercises import Exercise, near

NOTEBOOK = "00a-check-your-gpu"

GIB = 2**30


def _q1_solve() -> float:
    params = 8.03e9  # Llama-3-8B
    return params * 2 / GIB  # bf16: 2 bytes per parameter


_q1_check = near(_q1_solve(), rel=0.03, unit="GiB", mistakes={
    8.03e9 * 4 / GIB: "That is fp32 (4 bytes per parameter); bf16 uses 2.",
    8.03e9 * 2 / 1e9: "That is in GB (10^9 bytes); divide bytes by 2**30 for GiB, as nvidia-smi does.",
})


q1 = Exercise(
    "q1",
    "Llama-3-8B has 8.03 billion parameters. How many GiB do its weights take in bf16?",
    _q1_check,
    "bf16 stores each parameter in 2 bytes; 1 GiB = 2**30 bytes.",
    _q1_solve,
)


def _q2_solve() -> float:
    n, seconds = 4096, 0.010
    return 2 * n**3 / seconds / 1e12  # a matmul of two n x n matrices costs 2 n^3 floating-point operations


_q2_check = near(_q2_solve(), rel=0.02, unit="TFLOP/s",
                 mistakes={_q2_solve() / 2: "Each multiply-add counts as two operations: 2 * n**3."})


q2 = Exercise(
    "q2",
    "Multiplying two 4096 x 4096 matrices took 10 ms. What throughput is that, in TFLOP/s?",
    _q2_check,
    "A matrix multiply of two n x n matrices does n**3 multiply-adds, i.e. 2 * n**3 FLOPs.",
    _q2_solve,
)


def _q3_solve() -> str:
    return "small"


def _q3_check(answer: Any) -> str | None:
    if not isinstance(answer, str) or answer.strip().lower() not in ("small", "large"):
        return "answer 'small' or 'large'."
    if answer.strip().lower() == "large":
        return ("large matrices keep every GPU core busy, so the GPU's lead is biggest there; "
                "look at your sweep again.")
    return None


q3 = Exercise(
    "q3",
    "For which matrices is the GPU's lead over the CPU smallest: 'small' or 'large'?",
    _q3_check,
    "Look at the speed-up column of your sweep: launching a GPU kernel costs microseconds whatever its size.",
    _q3_solve,
)
