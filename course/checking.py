"""How the course's checkers judge a learner's answer: run the code, compare with the reference, name the mistake.

``same_as(reference, cases, mistakes=..., alternatives=...)`` makes a checker for a code exercise: it runs the
learner's function and the reference on hidden cases that vary every argument a learner could hard-code, on
fresh copies of the arguments, and compares outputs, shapes and dtypes (:func:`differs`); it names an input changed
in place, a session setting left changed (grad mode, default dtype), and the typical mistake whose output the
learner's matches. ``near`` judges a number (any numeric type a learner writes), ``choice`` a one-word answer.
``course.exercises`` builds the exercises of every notebook from these.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from course.comparing import as_number, changed_in_place, describe, differs, graph_cut  # noqa: F401 - re-exported


class NotAnswered(Exception):
    """Raised inside a checker when the learner's code is still the stub (it raised NotImplementedError)."""


class LearnerError(Exception):
    """The learner's code raised (or left the session broken): the message says what to change."""


def _global_state() -> dict[str, Any]:
    """The process-wide settings a learner's function could leave changed, silently breaking later cells."""
    import sys

    state: dict[str, Any] = {}
    torch = sys.modules.get("torch")
    if torch is not None:
        state["grad"] = torch.is_grad_enabled()
        state["dtype"] = torch.get_default_dtype()
        state["inference"] = torch.is_inference_mode_enabled()
        state["threads"] = torch.get_num_threads()
        state["deterministic"] = torch.are_deterministic_algorithms_enabled()
        state["anomaly"] = torch.is_anomaly_enabled()
    return state


def _restore(state: dict[str, Any]) -> None:
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and state:
        torch.set_grad_enabled(state["grad"])
        torch.set_default_dtype(state["dtype"])
        torch.set_num_threads(state["threads"])
        torch.use_deterministic_algorithms(state["deterministic"])
        torch.autograd.set_detect_anomaly(state["anomaly"])


STATE_ADVICE = {
    "grad": "it left gradients switched off for the whole session (torch.set_grad_enabled(False) or "
            "torch.no_grad() without `with`): every later training cell would silently stop learning. "
            "Use `with torch.no_grad():` so that it ends with the block",
    "dtype": "it changed the default dtype (torch.set_default_dtype) for the whole session: every tensor made "
             "afterwards would have it. Pass dtype= where you need it instead",
    "inference": "it left inference mode switched on for the whole session: use `with torch.inference_mode():`",
    "threads": "it changed how many CPU threads PyTorch uses (torch.set_num_threads) for the whole session: every "
               "later cell would run at that width. Leave the thread count to the notebook",
    "deterministic": "it switched deterministic algorithms on or off for the whole session "
                     "(torch.use_deterministic_algorithms): later cells may raise errors or slow down. Leave it to "
                     "the notebook",
    "anomaly": "it left autograd's anomaly detection on for the whole session (torch.autograd.set_detect_anomaly): "
               "every later backward pass would run several times slower. Use `with torch.autograd.detect_anomaly():`",
}


def learner_call(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """Call the learner's code; a stub's ``NotImplementedError`` becomes :class:`NotAnswered`.

    What the code raises becomes :class:`LearnerError` (so a checker tells it apart from its own comparison);
    settings the code leaves changed for the whole session (grad mode, default dtype, threads, deterministic
    algorithms, anomaly detection) are restored and reported.
    """
    before = _global_state()
    try:
        result = fn(*args, **kwargs)
    except NotImplementedError:
        raise NotAnswered from None
    except Exception as err:  # noqa: BLE001 - the learner's code: report it, never crash the notebook
        _restore(before)
        raise LearnerError(f"running your code raised {type(err).__name__}: {err}") from err
    after = _global_state()
    changed = [key for key in before if before[key] != after.get(key)]
    if changed:
        _restore(before)
        raise LearnerError(f"your code works, but {STATE_ADVICE[changed[0]]}.")
    return result


@dataclass
class Case:
    """One hidden test case of a code exercise: a label the learner understands, and the arguments."""

    label: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


def same_as(reference: Callable, cases: Callable[[], Sequence[Case]],
            mistakes: Sequence[tuple[Callable, str]] = (), compare: Callable[[Any, Any], str | None] = differs,
            expects: str = "your function", alternatives: Sequence[Callable] = ()) -> Callable[[Any], str | None]:
    """A code checker: run the learner's function and ``reference`` on each hidden case and compare.

    ``cases()`` must vary every argument a learner could hard-code (shapes, sizes, rates, dtypes). Each case runs
    on fresh copies of its arguments; arguments the learner's code changed in place, and session settings it left
    changed (grad mode, default dtype), are named. ``mistakes`` pairs a typical wrong implementation with what it
    means; when the learner's output on the failing case matches one's, the feedback names that mistake.
    ``alternatives`` are correct implementations in other styles; the tests check that the checker accepts them,
    and that it refuses each mistake with its explanation.
    """

    def remembers(answer: Any, first: Case | None) -> str | None:
        """The feedback when the answer, called again on the first case (fresh copies), no longer passes it."""
        if first is None:
            return None
        expected = reference(*copy.deepcopy(first.args), **copy.deepcopy(first.kwargs))
        try:
            again = learner_call(answer, *copy.deepcopy(first.args), **copy.deepcopy(first.kwargs))
        except LearnerError:
            return None
        if compare(again, expected) is None:
            return None
        return (f"on {first.label}, called again: your function gave another answer than the first time. It keeps "
                "something between calls (a mutable default argument such as `seen=[]`, or a global it changes): "
                "build fresh values inside the function.")

    def _matches(wrong: Callable, got: Any, case: Case) -> bool:
        try:
            return compare(got, wrong(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))) is None
        except Exception:  # noqa: BLE001 - a wrong implementation may fail on other inputs
            return False

    def _named_mistake(answer: Any, got: Any, case: Case, others: list[Case]) -> str | None:
        """The explanation of the typical mistake the answer makes: of those that give its output on the failing
        case, the one that also gives it on every other case (two mistakes may agree on one case)."""
        candidates = [(wrong, why) for wrong, why in mistakes if _matches(wrong, got, case)]
        if len(candidates) > 1:
            try:
                outputs = [(learner_call(answer, *copy.deepcopy(c.args), **copy.deepcopy(c.kwargs)), c) for c in others]
            except LearnerError:
                outputs = None
            for wrong, why in candidates if outputs is not None else ():
                if all(_matches(wrong, out, c) for out, c in outputs):
                    return why
        return candidates[0][1] if candidates else None

    def checker(answer: Any) -> str | None:
        if not callable(answer):
            return f"pass {expects} itself (its name, without calling it), not a {type(answer).__name__}."
        passed: Case | None = None  # the first case the answer passed
        all_cases = list(cases())
        for case in all_cases:
            expected = reference(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
            args, kwargs = copy.deepcopy(case.args), copy.deepcopy(case.kwargs)
            got = learner_call(answer, *args, **kwargs)
            fitted = None
            for name, before, after in [*((f"argument {i + 1}", a, b) for i, (a, b) in enumerate(zip(case.args, args,
                                                                                                     strict=True))),
                                        *((f"argument {k!r}", case.kwargs[k], kwargs[k]) for k in case.kwargs)]:
                if changed_in_place(before, after) and hasattr(before, "get_params"):  # said after what it got wrong
                    fitted = (f"on {case.label}: your function fitted the model it was given ({name}); the caller's "
                              "model must stay as it was. Fit a copy: sklearn.base.clone(model).")
                elif changed_in_place(before, after):
                    return (f"on {case.label}: your function changed its {name} in place; the caller still needs "
                            "it. Work on a copy (x.clone(), x.copy()) or build a new value.")
            problem = compare(got, expected)
            if problem is None:
                cut = graph_cut(got, expected)
                if cut:
                    return f"on {case.label}: {cut}"
                if fitted:
                    return fitted
                passed = passed or case
                continue
            stateful = remembers(answer, passed)
            if stateful:
                return stateful
            named = _named_mistake(answer, got, case, [c for c in all_cases if c is not case])
            return f"on {case.label}: {named or problem}"
        return remembers(answer, passed)  # once more: a function must not remember earlier calls

    checker.kind = "code"  # type: ignore[attr-defined]
    checker.mistakes = tuple(mistakes)  # type: ignore[attr-defined]
    checker.alternatives = tuple(alternatives)  # type: ignore[attr-defined]
    return checker


def near(expected: float, rel: float = 0.02, unit: str = "",
         mistakes: dict[float, str] | None = None) -> Callable[[Any], str | None]:
    """A checker for a number within ``rel`` of the expected value; ``mistakes`` explain typical wrong ones.

    Any numeric type a learner naturally writes counts (Python, NumPy, a 0-d tensor). ``mistakes`` maps the value
    a typical mistake gives to a sentence saying what went wrong; an answer within ``rel`` of such a value gets
    that sentence after "too high/low".
    """

    def checker(answer: Any) -> str | None:
        value = as_number(answer)
        if value is None:
            return f"expected a number{f' in {unit}' if unit else ''}, got {type(answer).__name__}."
        if math.isnan(value):
            return "that is NaN (not a number): check the computation that produced it."
        if math.isclose(value, expected, rel_tol=rel):
            return None
        direction = "high" if value > expected else "low"
        problem = f"{value:g}{unit and ' ' + unit} is too {direction}."
        for wrong, why in (mistakes or {}).items():
            if math.isclose(value, wrong, rel_tol=max(rel, 1e-9)):
                return f"{problem} {why}"
        return problem

    checker.mistakes = tuple((mistakes or {}).items())  # type: ignore[attr-defined]
    return checker


def _option(text: str) -> str:
    """An answer as the options are written: "(b)", "b)", "B.", " 'b' " all mean "b"; "vae_tiling", "VAE tiling",
    "vae-tiling" and the call that switches it on, "pipe.enable_vae_tiling()", mean the same option."""
    bare = text.strip().strip("'\"").strip().strip("().").replace("_", " ").replace("-", " ")
    words = " ".join(bare.lower().split()).removeprefix("pipe.")
    return words.removeprefix("enable ") if words.startswith("enable ") else words


def choice(correct: str, wrong: dict[str, str], also: Sequence[str] = ()) -> Callable[[Any], str | None]:
    """A checker for a one-word answer: ``correct`` (or one of ``also``, its other names), with specific feedback
    for each known wrong one. Case, quotes, spaces and the brackets of "(b)" do not matter."""
    feedback = {_option(k): v for k, v in wrong.items()}
    right = {_option(correct), *map(_option, also)}
    options = ", ".join(repr(o) for o in sorted([correct, *wrong], key=str.lower))  # sorted: no hint in the order

    def checker(answer: Any) -> str | None:
        if not isinstance(answer, str):
            return f"answer with a string, one of {options}."
        given = _option(answer)
        if given in right:
            return None
        return feedback.get(given, f"{answer!r} is not one of the options: {options}.")

    checker.kind = "choice"  # type: ignore[attr-defined]
    checker.mistakes = tuple(wrong.items())  # type: ignore[attr-defined]
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
