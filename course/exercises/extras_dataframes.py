"""Exercises for the extra "GPU dataframes: pandas on the CPU, RAPIDS cuDF on the GPU"."""

from __future__ import annotations

from typing import Any

from course.exercises import Exercise, near

NOTEBOOK = "e5-gpu-dataframes"


def _q1_solve() -> float:
    rows, columns, bytes_each = 10_000_000, 3, 8  # int64 and float64 columns
    return rows * columns * bytes_each / 1e6


_q1_check = near(_q1_solve(), rel=0.02, unit="MB", mistakes={
    _q1_solve() * 1e6 / 2**20: "That is MiB (2**20 bytes); the question asks for MB (10**6 bytes).",
    _q1_solve() / 2: "int64 and float64 take 8 bytes each, not 4.",
})


q1 = Exercise(
    "q1",
    "A table has 10 million rows and 3 columns of int64/float64. How many MB (10**6 bytes) does it take?",
    _q1_check,
    "rows x columns x 8 bytes, then divide by 10**6.",
    _q1_solve,
)


def _q2_solve() -> float:
    megabytes, gb_per_s = 240, 25
    return megabytes / 1000 / gb_per_s * 1000  # MB -> GB, / (GB/s) = s, -> ms


_q2_check = near(_q2_solve(), rel=0.03, unit="ms", mistakes={
    _q2_solve() / 1000: "That is in seconds; the question asks for milliseconds.",
})


q2 = Exercise(
    "q2",
    "Copying that 240 MB table to the GPU over PCIe at an effective 25 GB/s takes how many milliseconds?",
    _q2_check,
    "time = size / bandwidth; 240 MB is 0.24 GB.",
    _q2_solve,
)


def _q3_solve() -> str:
    return "large"


def _q3_check(answer: Any) -> str | None:
    if not isinstance(answer, str) or answer.strip().lower() not in ("small", "large"):
        return "answer 'small' or 'large'."
    if answer.strip().lower() == "small":
        return ("on a small table the fixed cost of each GPU operation (launching kernels, synchronising) "
                "is most of the time; look at the left end of the query-time plot.")
    return None


q3 = Exercise(
    "q3",
    "For which tables does moving a group-by to the GPU pay off: 'small' or 'large'?",
    _q3_check,
    "Compare the slopes of the two lines in the query-time plot, and where they start.",
    _q3_solve,
)


def _q4_solve() -> str:
    return "cpu"


def _q4_check(answer: Any) -> str | None:
    if not isinstance(answer, str) or answer.strip().lower() not in ("cpu", "gpu"):
        return "answer 'cpu' or 'gpu'."
    if answer.strip().lower() == "gpu":
        return ("a row-wise apply of an arbitrary Python function is not something cuDF can run; cudf.pandas "
                "falls back to real pandas for it.")
    return None


q4 = Exercise(
    "q4",
    "With cudf.pandas loaded, where does df.apply(my_python_function, axis=1) run: 'cpu' or 'gpu'?",
    _q4_check,
    "Section 5 quotes RAPIDS' own example of an operation that falls back.",
    _q4_solve,
)
