"""Exercises with feedback: ``check(answer)``, ``hint()`` and ``solution()`` for every question.

Each week has a module (``week00``, ``week01``, ...) that defines its exercises with
:class:`Exercise`. In a notebook::

    from course.exercises import week00 as ex
    answer = None          # your answer here
    ex.q1.check(answer)    # explains what is wrong, or says "not answered yet"
    ex.q1.hint()
    ex.q1.solution()

A checker returns ``None`` when the answer is right, else a sentence that says what is wrong.
``solve()`` computes the reference answer, and the tests prove ``check(solve())`` passes.
"""

from __future__ import annotations

import inspect
import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

NOT_ANSWERED = None


@dataclass
class Exercise:
    """One question: a checker that explains mistakes, a hint, and a reference solution."""

    name: str
    question: str
    checker: Callable[[Any], str | None]
    hint_text: str
    solve: Callable[[], Any]

    def check(self, answer: Any = NOT_ANSWERED) -> bool:
        """Say whether the answer is right and, if not, what is wrong; never raises."""
        if answer is NOT_ANSWERED or answer is Ellipsis:
            print(f"{self.name}: not answered yet. Replace the placeholder with your answer "
                  f"(stuck? call {self.name}.hint()).")
            return False
        try:
            problem = self.checker(answer)
        except Exception as err:  # noqa: BLE001 - a learner's odd answer must not crash the notebook
            problem = f"that answer could not be checked ({type(err).__name__}: {err})."
        if problem is None:
            print(f"{self.name}: correct!")
            return True
        print(f"{self.name}: not yet. {problem}")
        return False

    def hint(self) -> None:
        """Print the hint."""
        print(f"{self.name} hint: {self.hint_text}")

    def solution(self) -> None:
        """Print the reference solution's code and its answer."""
        source = textwrap.dedent(inspect.getsource(self.solve))
        print(f"{self.name} reference solution:\n{source}\nanswer: {self.solve()!r}")


def near(expected: float, rel: float = 0.02, unit: str = "",
         mistakes: dict[float, str] | None = None) -> Callable[[Any], str | None]:
    """A checker for a number within ``rel`` of the expected value; ``mistakes`` explain typical wrong ones.

    ``mistakes`` maps the value a typical mistake gives to a sentence saying what went wrong;
    an answer within ``rel`` of such a value gets that sentence after "too high/low".
    """

    def checker(answer: Any) -> str | None:
        if isinstance(answer, bool) or not isinstance(answer, int | float):
            return f"expected a number{f' in {unit}' if unit else ''}, got {type(answer).__name__}."
        if math.isclose(answer, expected, rel_tol=rel):
            return None
        direction = "high" if answer > expected else "low"
        problem = f"{answer:g}{unit and ' ' + unit} is too {direction}."
        for value, why in (mistakes or {}).items():
            if math.isclose(answer, value, rel_tol=max(rel, 1e-9)):
                return f"{problem} {why}"
        return problem

    return checker


def choice(correct: str, wrong: dict[str, str]) -> Callable[[Any], str | None]:
    """A checker for a one-word answer: ``correct``, with specific feedback for each known wrong one."""
    feedback = {k.strip().lower(): v for k, v in wrong.items()}
    options = ", ".join(repr(o) for o in [correct, *wrong])

    def checker(answer: Any) -> str | None:
        if not isinstance(answer, str):
            return f"answer with a string, one of {options}."
        given = answer.strip().strip("'\"").lower()
        if given == correct.strip().lower():
            return None
        return feedback.get(given, f"{answer!r} is not one of the options: {options}.")

    return checker


def fitted_estimator(answer: Any) -> str | None:
    """``None`` if ``answer`` is a fitted scikit-learn estimator, else what to do about it."""
    if not (hasattr(answer, "fit") and hasattr(answer, "get_params")):
        return f"expected a scikit-learn estimator (something with .fit), got {type(answer).__name__}."
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(answer)
    except NotFittedError:
        return "this estimator is not fitted yet: call .fit(X_train, y_train) on it, then check it again."
    return None


def pipeline_steps(answer: Any) -> list[Any]:
    """The steps of a Pipeline (or of a search's best pipeline), outermost first; [answer] otherwise."""
    inner = getattr(answer, "best_estimator_", answer)
    steps = getattr(inner, "steps", None)
    return [step for _, step in steps] if steps else [inner]


def scores_at_least(data: Callable[[], tuple[Any, Any]], minimum: float, what: str = "the test set",
                    scoring: str = "accuracy") -> Callable[[Any], str | None]:
    """A checker for a fitted estimator that must score at least ``minimum`` on ``data()`` = (X, y)."""

    def checker(answer: Any) -> str | None:
        problem = fitted_estimator(answer)
        if problem:
            return problem
        from sklearn.metrics import get_scorer

        X, y = data()
        score = get_scorer(scoring)(answer, X, y)
        if score < minimum:
            return f"it scores {scoring} {score:.3f} on {what}; aim for at least {minimum:g}."
        return None

    return checker
