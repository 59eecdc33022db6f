"""Every checker judges the answer, not the example: one generic test over each exercise's registered answers.

An exercise registers the wrong answers its checker must refuse, each with words its feedback must contain
(``same_as(mistakes=...)``, ``near(mistakes=...)``, ``Exercise(wrong=...)``), and the right answers in other styles
it must accept (``same_as(alternatives=...)``, ``Exercise(right=...)``). Every code exercise registers at least two
wrong implementations and one correct one in another style. Wherever a number is asked, Python, NumPy and 0-d
tensor numbers are all accepted.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch

from course.exercises import catalogue

ENTRIES = catalogue()
IDS = [f"{e.module}.{e.id}" for e in ENTRIES]


def _verdict(exercise, answer):
    with contextlib.redirect_stdout(io.StringIO()):
        return exercise.verdict(answer)


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_every_registered_wrong_answer_is_refused_with_its_explanation(entry):
    for answer, words in entry.exercise.wrong_answers():
        ok, why = _verdict(entry.exercise, answer)
        assert ok is False, f"{entry.module}.{entry.id} accepted a wrong answer meant to be refused: {words!r}"
        assert words in why, f"{entry.module}.{entry.id}: expected the feedback to say {words!r}, it said {why!r}"


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_every_registered_right_answer_is_accepted(entry):
    for i, answer in enumerate(entry.exercise.right_answers()):
        ok, why = _verdict(entry.exercise, answer)
        assert ok is True, f"{entry.module}.{entry.id}: right answer {i} ({'the reference' if i == 0 else 'another style'}) " \
                           f"was refused: {why}"


CODE = [e for e in ENTRIES if e.kind == "code"]


@pytest.mark.parametrize("entry", CODE, ids=[f"{e.module}.{e.id}" for e in CODE])
def test_every_code_exercise_registers_two_wrong_implementations_and_one_in_another_style(entry):
    wrong, right = entry.exercise.wrong_answers(), entry.exercise.right_answers()
    assert len(wrong) >= 2, f"{entry.module}.{entry.id}: register at least two wrong implementations"
    assert len(right) >= 2, f"{entry.module}.{entry.id}: register at least one correct implementation in another style"


def _number(value):
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return None
    return value


NUMBERS = [e for e in ENTRIES if e.kind == "value" and _number(e.exercise.solve()) is not None]


@pytest.mark.parametrize("entry", NUMBERS, ids=[f"{e.module}.{e.id}" for e in NUMBERS])
def test_a_numeric_answer_is_accepted_as_numpy_and_as_a_0d_tensor(entry):
    value = entry.exercise.solve()
    forms = [np.float64(value), np.array(value), torch.tensor(float(value), dtype=torch.float64)]
    if float(value).is_integer():
        forms += [np.int64(int(value)), torch.tensor(int(value))]
    else:
        forms += [np.float32(value)]
    for form in forms:
        ok, why = _verdict(entry.exercise, form)
        assert ok is True, f"{entry.module}.{entry.id}: {type(form).__name__} {form!r} was refused: {why}"
