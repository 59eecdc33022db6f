"""Every exercise: its reference solution passes its own check; no answer and wrong answers explain."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import course.exercises as exercises
from course.exercises import Exercise


def _all_exercises():
    for mod in pkgutil.iter_modules(exercises.__path__):
        module = importlib.import_module(f"course.exercises.{mod.name}")
        for name, value in vars(module).items():
            if isinstance(value, Exercise):
                yield pytest.param(value, id=f"{mod.name}.{name}")


ALL = list(_all_exercises())


@pytest.mark.parametrize("ex", ALL)
def test_reference_solution_passes_its_own_check(ex, capsys):
    assert ex.check(ex.solve()) is True
    assert "correct" in capsys.readouterr().out


@pytest.mark.parametrize("ex", ALL)
def test_no_answer_yet_is_reported_without_raising(ex, capsys):
    assert ex.check(None) is False
    assert "not answered yet" in capsys.readouterr().out


@pytest.mark.parametrize("ex", ALL)
def test_hint_and_solution_print_something(ex, capsys):
    ex.hint()
    ex.solution()
    out = capsys.readouterr().out
    assert "hint" in out and "reference solution" in out


def test_week00_typical_mistakes_get_specific_feedback(capsys):
    from course.exercises import week00

    assert not week00.q1.check(8.03e9 * 4 / 2**30)
    assert "fp32" in capsys.readouterr().out
    assert not week00.q1.check(16.06)
    assert "GB (10^9 bytes)" in capsys.readouterr().out
    assert not week00.q2.check(6.87)
    assert "two operations" in capsys.readouterr().out
    assert not week00.q3.check("large")
    assert "sweep" in capsys.readouterr().out
    assert not week00.q1.check("fifteen")
    assert "expected a number" in capsys.readouterr().out
