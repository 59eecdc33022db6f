"""Exercises for week 3, "PyTorch basics and MNIST"."""

from __future__ import annotations

from typing import Any

from course.exercises import Exercise, choice, near

NOTEBOOK = "03a-pytorch-basics-and-mnist"


def _q1_solve() -> tuple[int, ...]:
    import torch

    return tuple((torch.zeros(4, 1, 3) + torch.zeros(5, 1)).shape)


def _q1_check(answer: Any) -> str | None:
    if not isinstance(answer, tuple | list) or not all(isinstance(d, int) for d in answer):
        return "give the shape as a tuple of integers, e.g. (2, 3)."
    answer = tuple(answer)
    if answer == _q1_solve():
        return None
    if answer in ((4, 1, 3), (5, 1)):
        return "broadcasting stretches size-1 dimensions of *both* tensors; the result is bigger than either."
    if len(answer) != 3:
        return "align the shapes from the right; the missing leading dimension of (5, 1) counts as 1."
    return f"{answer} is not it: compare the shapes dimension by dimension, from the right."


q1 = Exercise(
    "q1",
    "What is the shape of torch.zeros(4, 1, 3) + torch.zeros(5, 1)?",
    _q1_check,
    "Write the shapes right-aligned: (4, 1, 3) and (_, 5, 1). Each pair must be equal or contain a 1.",
    _q1_solve,
)


def _q2_solve() -> int:
    return 784 * 128 + 128  # a weight per input-output pair, plus one bias per output


def _q2_check(answer: Any) -> str | None:
    if isinstance(answer, bool) or not isinstance(answer, int):
        return "expected a whole number of parameters."
    if answer == _q2_solve():
        return None
    if answer == 784 * 128:
        return "close: you counted the weights; each of the 128 outputs also has a bias."
    if answer == 784 + 128:
        return "a Linear layer connects every input to every output: multiply, don't add."
    return f"{answer:,} is not it."


q2 = Exercise(
    "q2",
    "How many parameters does nn.Linear(784, 128) have?",
    _q2_check,
    "y = x @ W.T + b: W is 128 x 784 and b has 128 entries.",
    _q2_solve,
)


def _q3_solve() -> float:
    import torch

    x = torch.tensor(2.0, requires_grad=True)
    (3 * x**2 + x).backward()
    return float(x.grad)


def _q3_check(answer: Any) -> str | None:
    problem = near(_q3_solve(), rel=1e-6)(answer)
    if problem and isinstance(answer, int | float) and answer == 12:
        return problem + " Don't forget the derivative of the + x term."
    if problem and isinstance(answer, int | float) and answer == 14:
        return problem + " That is f(2); the question asks for the gradient f'(2)."
    return problem


q3 = Exercise(
    "q3",
    "x = torch.tensor(2.0, requires_grad=True); (3 * x**2 + x).backward(). What is x.grad?",
    _q3_check,
    "d/dx (3x^2 + x) = 6x + 1. Or just run it.",
    _q3_solve,
)


def _q4_solve() -> str:
    return "b"


_q4_check = choice("b", {
    "a": "zero_grad does not touch the weights, only their .grad fields.",
    "c": "the learning rate lives in the optimizer and never changes because of zero_grad.",
})


q4 = Exercise(
    "q4",
    "Why does the loop call optimizer.zero_grad() every step? (a) to reset the weights; "
    "(b) because backward() adds to .grad instead of overwriting it; (c) to reset the learning rate",
    _q4_check,
    "Look at section 2: what happened to w.grad after a second backward()?",
    _q4_solve,
)
