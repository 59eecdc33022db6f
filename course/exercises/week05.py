"""Exercises for week 5, "Transformers for NLP": attention cost, sampling, reading a confusion matrix."""

from __future__ import annotations

from typing import Any

from course.exercises import Exercise, choice, near

NOTEBOOK = "05a-transformers-for-nlp"

# q1: scores of a 12-head model at 512 tokens, stored in fp32.
HEADS, TOKENS = 12, 512


def _q1_solve() -> float:
    return HEADS * TOKENS * TOKENS * 4 / 2**20  # one score per (query, key) pair, per head, 4 bytes


def _q1_check(answer: Any) -> str | None:
    problem = near(_q1_solve(), rel=0.03, unit="MiB")(answer)
    if problem and isinstance(answer, int | float) and not isinstance(answer, bool):
        if abs(answer - _q1_solve() / HEADS) < 0.5:
            return problem + " Every head has its own score matrix."
        if abs(answer - HEADS * TOKENS * 4 / 2**20) < 0.05:
            return problem + " Each of the 512 queries scores each of the 512 keys: tokens squared."
    return problem


q1 = Exercise(
    "q1",
    f"One attention layer with {HEADS} heads reads {TOKENS} tokens. How many MiB do its fp32 attention scores take "
    "(one sequence)?",
    _q1_check,
    "Scores form a tokens x tokens matrix per head; fp32 is 4 bytes; 1 MiB = 2**20 bytes.",
    _q1_solve,
)

# q2: a confusion matrix of a sentiment classifier, rows = true class, columns = predicted.
MATRIX = [[40, 10], [5, 45]]  # negative row, positive row


def _q2_solve() -> float:
    return (MATRIX[0][0] + MATRIX[1][1]) / sum(map(sum, MATRIX))


def _q2_check(answer: Any) -> str | None:
    problem = near(_q2_solve(), rel=0.01)(answer)
    if problem and isinstance(answer, int | float) and not isinstance(answer, bool):
        if abs(answer - 100 * _q2_solve()) < 1:
            return problem + " Give a fraction between 0 and 1, not a percentage."
        if abs(answer - (MATRIX[0][1] + MATRIX[1][0]) / 100) < 0.01:
            return problem + " That is the error rate: accuracy counts the diagonal."
    return problem


q2 = Exercise(
    "q2",
    f"A sentiment model's confusion matrix (rows: true negative, positive; columns: predicted) is {MATRIX}. "
    "What is its accuracy, as a fraction?",
    _q2_check,
    "Correct predictions sit on the diagonal; divide by all predictions.",
    _q2_solve,
)

q3 = Exercise(
    "q3",
    "Which decoding gives the same text every time you run it: 'greedy', 'top-k', 'top-p' or 'temperature'?",
    choice("greedy", {"top-k": "top-k samples among the k likeliest tokens: it changes from run to run.",
                      "top-p": "top-p samples from the smallest set covering probability p: it is random.",
                      "temperature": "temperature reshapes the probabilities before sampling: still random."}),
    "Only one of them never samples: it always takes the likeliest next token.",
    lambda: "greedy",
)

q4 = Exercise(
    "q4",
    "Raising the temperature from 0.7 to 1.5 makes the next-token distribution: 'flatter' or 'sharper'?",
    choice("flatter", {"sharper": "dividing logits by a bigger temperature shrinks their differences."}),
    "Sampling uses softmax(logits / T).",
    lambda: "flatter",
)
