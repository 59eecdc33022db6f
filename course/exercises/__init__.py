"""Exercises with feedback: ``check(answer)``, ``hint()`` and ``solution()`` for every question.

Each notebook has a module (``week00``, ``week04a``, ``extras_rl``, ...) whose ``NOTEBOOK`` names the
notebook id and which defines its exercises with :class:`Exercise`. Three kinds:

- ``value``: a number or a short answer (``near(...)`` or a hand-written checker);
- ``choice``: one word out of a few (``choice(...)``);
- ``code``: the learner completes a stub (a function, a class, a config) and ``check`` runs it on cases
  the learner does not see, against the reference (``same_as(...)``, or a checker that calls
  :func:`learner_call`). A stub that still raises ``NotImplementedError`` is "not answered yet".

In a notebook::

    from course.exercises import week05 as ex
    def causal_attention(q, k, v):
        raise NotImplementedError  # your code here
    ex.q3.check(causal_attention)   # runs it on hidden cases; says which case failed and why
    ex.q3.hint()
    ex.q3.solution()

A checker returns ``None`` when the answer is right, else a sentence that says what is wrong.
``solve()`` computes the reference answer (for ``code``, returns the reference function or class),
and ``python -m course exercises --verify`` proves ``check(solve())`` passes for every exercise.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from course.checking import (  # noqa: F401 - the toolkit of every exercise module, re-exported here
    Case,
    LearnerError,
    NotAnswered,
    as_number,
    choice,
    describe,
    differs,
    fitted_estimator,
    learner_call,
    near,
    pipeline_steps,
    same_as,
)
from course.errors import CourseError

NOT_ANSWERED = None
KINDS = ("value", "choice", "code")


class Result:
    """What ``check`` returns: true when the answer is right. It shows nothing in a notebook (the verdict
    is printed once by ``check``), so an exercise cell ends without a stray ``True``/``False``."""

    def __init__(self, correct: bool, message: str) -> None:
        self.correct, self.message = correct, message

    def __bool__(self) -> bool:
        return self.correct

    def __eq__(self, other: object) -> bool:
        return bool(self) == other if isinstance(other, bool | Result) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Result(correct={self.correct})"

    def _ipython_display_(self) -> None:
        """Display nothing: the verdict is already printed."""


@dataclass
class Exercise:
    """One question: a checker that explains mistakes, a hint, a reference solution, and what it practises."""

    name: str
    question: str
    checker: Callable[[Any], str | None]
    hint_text: str
    solve: Callable[[], Any]
    objective: str = ""
    kind: str = ""
    wrong: tuple = ()  # (answer, words its feedback must contain): wrong answers the checker must name
    right: tuple = ()  # answers in other styles (a loop, einsum, float64, another library call) it must accept

    def __post_init__(self) -> None:
        self.kind = self.kind or getattr(self.checker, "kind", "value")
        if self.kind not in KINDS:
            raise ValueError(f"exercise {self.name}: kind must be one of {KINDS}, not {self.kind!r}")

    def verdict(self, answer: Any = NOT_ANSWERED) -> tuple[bool | None, str]:
        """(True, "") when right, (False, what is wrong), or (None, why) when not answered yet; never raises."""
        if answer is NOT_ANSWERED or answer is Ellipsis:
            return None, "replace the placeholder with your answer"
        try:
            problem = self.checker(answer)
        except NotAnswered:
            return None, "your function still raises NotImplementedError: write its body"
        except LearnerError as err:
            problem = str(err)
        except Exception as err:  # noqa: BLE001 - a learner's odd answer must not crash the notebook
            if self.kind == "code":
                problem = f"running your code raised {type(err).__name__}: {err}"
            else:
                problem = f"that answer could not be checked ({type(err).__name__}: {err})."
        return (True, "") if problem is None else (False, problem)

    def check(self, answer: Any = NOT_ANSWERED) -> Result:
        """Print whether the answer is right and, if not, what is wrong; never raises."""
        ok, why = self.verdict(answer)
        if ok is None:
            message = f"{self.name}: not answered yet; {why} (stuck? call {self.name}.hint())."
        elif ok:
            message = f"{self.name}: correct!"
        else:
            message = f"{self.name}: not yet. {why}"
        print(message)
        from course import progress

        progress.record(self, ok)
        return Result(bool(ok), message)

    def wrong_answers(self) -> list[tuple[Any, str]]:
        """Wrong answers the checker must refuse, each with words its feedback must contain (for the tests)."""
        return [*getattr(self.checker, "mistakes", ()), *self.wrong]

    def right_answers(self) -> list[Any]:
        """The reference answer and answers in other styles that the checker must accept (for the tests)."""
        return [self.solve(), *getattr(self.checker, "alternatives", ()), *self.right]

    def hint(self) -> None:
        """Print the hint."""
        print(f"{self.name} hint: {self.hint_text}")

    def solution(self) -> None:
        """Print the reference solution: the code of a code exercise, else the code that computes the answer."""
        if self.kind == "code":
            reference = self.solve()
            source = textwrap.dedent(inspect.getsource(reference if inspect.isfunction(reference)
                                                       or inspect.isclass(reference) else self.solve))
            print(f"{self.name} reference solution:\n{source}")
            return
        source = textwrap.dedent(inspect.getsource(self.solve))
        print(f"{self.name} reference solution:\n{source}\nanswer: {self.solve()!r}")


@dataclass(frozen=True)
class Entry:
    """One exercise in the catalogue: its notebook, module, id, kind, objective and question."""

    notebook: str
    module: str
    id: str
    kind: str
    objective: str
    question: str
    exercise: Exercise


def modules() -> list[ModuleType]:
    """Every exercise module (one per notebook; each names its notebook in ``NOTEBOOK``)."""
    import importlib
    import pkgutil

    found = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if not isinstance(getattr(module, "NOTEBOOK", None), str):
            raise CourseError(f"course/exercises/{info.name}.py has no NOTEBOOK = \"<notebook id>\" line")
        found.append(module)
    return found


def catalogue(course: Any = None) -> list[Entry]:
    """All exercises, in course order then by id."""
    from course import syllabus as syl

    course = course or syl.load()
    order = {nb.id: i for i, nb in enumerate(course.notebooks)}
    entries = []
    for module in modules():
        if module.NOTEBOOK not in order:
            raise CourseError(f"{module.__name__}: NOTEBOOK {module.NOTEBOOK!r} is not in the syllabus")
        for name, value in vars(module).items():
            if isinstance(value, Exercise):
                entries.append(Entry(module.NOTEBOOK, module.__name__.rsplit(".", 1)[-1], name, value.kind,
                                     value.objective, value.question, value))
    return sorted(entries, key=lambda e: (order[e.notebook], e.id))


def show_progress(notebook: str) -> None:
    """Print this notebook's exercises solved, attempted and untouched, and which notebook to open next.

    The verdicts of ``check()`` are kept on this machine only (``python -m course progress`` shows them all).
    """
    from course import progress
    from course import syllabus as syl

    course = syl.load()
    names: dict[str, list[str]] = {}
    for entry in catalogue(course):
        names.setdefault(entry.notebook, []).append(entry.id)
    report = progress.summary(list(course.notebooks), names)
    for problem in report["problems"]:
        print(f"(progress: {problem})")
    row = next((r for r in report["notebooks"] if r["notebook"] == notebook), None)
    if row is not None:
        print(progress.line(row))
    if report["next"]:
        print(f"next: {report['next']} (all notebooks: python -m course progress)")
