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

import copy
import inspect
import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

NOT_ANSWERED = None
KINDS = ("value", "choice", "code")


class NotAnswered(Exception):
    """Raised inside a checker when the learner's code is still the stub (it raised NotImplementedError)."""


def learner_call(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """Call the learner's code; a stub's ``NotImplementedError`` becomes :class:`NotAnswered`."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise NotAnswered from None


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
        return Result(bool(ok), message)

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


@dataclass
class Case:
    """One hidden test case of a code exercise: a label the learner understands, and the arguments."""

    label: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


def describe(value: Any, limit: int = 6) -> str:
    """A short, readable rendering of a value for feedback (tensors and arrays: shape and first values)."""
    shape = getattr(value, "shape", None)
    if shape is not None and hasattr(value, "flatten"):
        flat = value.flatten()[:limit]
        items = ", ".join(f"{float(x):.4g}" for x in flat.tolist())
        more = ", ..." if math.prod(tuple(shape)) > limit else ""
        return f"{type(value).__name__} of shape {tuple(shape)} [{items}{more}]"
    if isinstance(value, float):
        return f"{value:.6g}"
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def differs(got: Any, expected: Any, rtol: float = 1e-4, atol: float = 1e-5) -> str | None:
    """``None`` if ``got`` matches ``expected`` (tensors, arrays, numbers, containers), else how it differs."""
    if hasattr(expected, "shape") and hasattr(expected, "dtype"):
        if not hasattr(got, "shape"):
            return f"expected {describe(expected)}, got {type(got).__name__}: {describe(got)}."
        if tuple(got.shape) != tuple(expected.shape):
            return f"expected shape {tuple(expected.shape)}, got shape {tuple(got.shape)}."
        import numpy as np

        g = got.detach().cpu().double().numpy() if hasattr(got, "detach") else np.asarray(got, dtype=float)
        e = expected.detach().cpu().double().numpy() if hasattr(expected, "detach") else np.asarray(expected, dtype=float)
        if np.allclose(g, e, rtol=rtol, atol=atol, equal_nan=True):
            return None
        worst = float(np.nanmax(np.abs(g - e))) if g.size else 0.0
        return f"expected {describe(expected)}, got {describe(got)} (largest difference {worst:.3g})."
    if isinstance(expected, bool) or not isinstance(expected, int | float):
        if isinstance(expected, dict) and isinstance(got, dict):
            if set(got) != set(expected):
                return f"expected the keys {sorted(expected)}, got {sorted(got)}."
            for key in expected:
                problem = differs(got[key], expected[key], rtol, atol)
                if problem:
                    return f"[{key!r}]: {problem}"
            return None
        if isinstance(expected, list | tuple) and isinstance(got, list | tuple):
            if len(got) != len(expected):
                return f"expected {len(expected)} items, got {len(got)}."
            for i, (a, b) in enumerate(zip(got, expected, strict=True)):
                problem = differs(a, b, rtol, atol)
                if problem:
                    return f"item {i}: {problem}"
            return None
        return None if got == expected else f"expected {describe(expected)}, got {describe(got)}."
    if isinstance(got, bool) or not isinstance(got, int | float) and not hasattr(got, "item"):
        return f"expected a number ({describe(expected)}), got {type(got).__name__}."
    value = float(got.item() if hasattr(got, "item") else got)
    if math.isclose(value, expected, rel_tol=rtol, abs_tol=atol):
        return None
    return f"expected {describe(float(expected))}, got {describe(value)}."


def same_as(reference: Callable, cases: Callable[[], Sequence[Case]],
            mistakes: Sequence[tuple[Callable, str]] = (), compare: Callable[[Any, Any], str | None] = differs,
            expects: str = "your function") -> Callable[[Any], str | None]:
    """A code checker: run the learner's function and ``reference`` on each hidden case and compare.

    ``mistakes`` pairs a typical wrong implementation with what it means; when the learner's output on
    the failing case matches a wrong implementation's, the feedback names that mistake.
    """

    def checker(answer: Any) -> str | None:
        if not callable(answer):
            return (f"pass {expects} itself (its name, without calling it), not a {type(answer).__name__}.")
        for case in cases():
            expected = reference(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
            got = learner_call(answer, *copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
            problem = compare(got, expected)
            if problem is None:
                continue
            for wrong, why in mistakes:
                try:
                    if compare(got, wrong(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))) is None:
                        return f"on {case.label}: {why}"
                except Exception:  # noqa: BLE001,S112 - a wrong implementation may fail on other inputs
                    continue
            return f"on {case.label}: {problem}"
        return None

    checker.kind = "code"  # type: ignore[attr-defined]
    return checker


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

    checker.kind = "choice"  # type: ignore[attr-defined]
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


