"""How a checker compares a learner's output with the reference's: values, shapes, dtypes, graphs, inputs changed.

``differs(got, expected)`` says how two outputs differ (tensors, arrays, numbers of any library, containers), or
None; ``graph_cut`` whether a result lost the graph the reference's keeps; ``changed_in_place`` whether the
learner's code changed an argument (a tensor, an array, a DataFrame, a module's weights, a scikit-learn model it
fitted). ``describe`` renders a value for feedback and ``as_number`` reads a number of any numeric type.
``course.checking`` builds the checkers on them.
"""

from __future__ import annotations

import math
from typing import Any


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


def as_number(value: Any) -> float | None:
    """A number as a float, whatever type a learner naturally writes: int, float, NumPy scalars, 0-d arrays and
    tensors. None for anything else (bools, strings, tensors of more than one value)."""
    import numbers

    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    shape = getattr(value, "shape", None)
    if shape is not None and tuple(shape) == () and hasattr(value, "item"):
        item = value.item()
        if isinstance(item, numbers.Real) and not isinstance(item, bool):
            return float(item)
    return None


def _dtype_kind(dtype: Any) -> str:
    """"bool", "integer", "floating" or "complex" for a torch or NumPy dtype."""
    name = str(dtype).replace("torch.", "")
    if name in ("bool", "bool_"):
        return "bool"
    if "complex" in name:
        return "complex"
    if "float" in name or name in ("half", "double"):
        return "floating"
    return "integer"


def _dtype_name(dtype: Any) -> str:
    """"int64" for torch.int64 and NumPy's int64 alike."""
    return str(dtype).replace("torch.", "")


def _whole(value: Any) -> bool:
    """True for an integer of any library (not a bool): what a list of indices or counts holds."""
    import numpy as np

    if hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0:
        return _dtype_kind(value.dtype) == "integer"
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def differs(got: Any, expected: Any, rtol: float = 1e-4, atol: float = 1e-5) -> str | None:
    """``None`` if ``got`` matches ``expected`` (tensors, arrays, numbers, containers), else how it differs.

    Tensors and arrays must have the expected shape and the same kind of dtype (an integer tensor where
    integers are expected: cross_entropy refuses float labels; any float precision where floats are);
    numbers may be any numeric type (Python, NumPy, a 0-d tensor). It never raises.
    """
    try:
        return _differs(got, expected, rtol, atol)
    except Exception as err:  # noqa: BLE001 - the checker's own comparison must never blame the learner
        return (f"expected {describe(expected)}, got {type(got).__name__} ({describe(got)}), which could not be "
                f"compared with it ({type(err).__name__}).")


def _differs(got: Any, expected: Any, rtol: float, atol: float) -> str | None:
    import numpy as np

    if type(expected).__module__.startswith("torch") and hasattr(expected, "detach") and not hasattr(got, "detach") \
            and getattr(expected, "ndim", 0) != 0:
        return (f"return a torch tensor, not a {type(got).__name__} ({describe(got)}): the code after yours works on "
                "tensors (leave out .numpy() and .tolist()).")

    if hasattr(expected, "shape") and hasattr(expected, "dtype") and getattr(expected, "ndim", 1) != 0:
        if not hasattr(got, "shape") or not hasattr(got, "dtype"):
            return f"expected {describe(expected)}, got {type(got).__name__}: {describe(got)}."
        if tuple(got.shape) != tuple(expected.shape):
            return f"expected shape {tuple(expected.shape)}, got shape {tuple(got.shape)}."
        want, have = _dtype_kind(expected.dtype), _dtype_kind(got.dtype)
        if want != have or (want == "integer" and _dtype_name(got.dtype) != _dtype_name(expected.dtype)):
            return f"expected dtype {expected.dtype}, got {got.dtype}."
        g = got.detach().cpu().double().numpy() if hasattr(got, "detach") else np.asarray(got, dtype=float)
        e = expected.detach().cpu().double().numpy() if hasattr(expected, "detach") else np.asarray(expected, dtype=float)
        bad_nan = np.isnan(g) & ~np.isnan(e)
        if bad_nan.any():
            return f"your output has NaN in {int(bad_nan.sum())} of {g.size} places where the expected one has numbers."
        if np.allclose(g, e, rtol=rtol, atol=atol, equal_nan=True):
            return None
        with np.errstate(invalid="ignore"):  # -inf against -inf, NaN against NaN: no warning for the learner
            gaps = np.abs(g - e)
        worst = float(np.max(gaps[~np.isnan(gaps)])) if (~np.isnan(gaps)).any() else 0.0
        return f"expected {describe(expected)}, got {describe(got)} (largest difference {worst:.3g})."
    number = as_number(expected)
    if number is not None:
        value = as_number(got)
        if value is None:
            return f"expected a number ({describe(float(number))}), got {type(got).__name__}."
        if math.isnan(value) and not math.isnan(number):
            return f"expected {describe(float(number))}, got NaN."
        if math.isclose(value, number, rel_tol=rtol, abs_tol=atol) or (math.isnan(value) and math.isnan(number)):
            return None
        return f"expected {describe(float(number))}, got {describe(value)}."
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"expected a dict with the keys {sorted(expected)}, got {type(got).__name__}."
        if set(got) != set(expected):
            return f"expected the keys {sorted(expected)}, got {sorted(got)}."
        for key in expected:
            problem = _differs(got[key], expected[key], rtol, atol)
            if problem:
                return f"[{key!r}]: {problem}"
        return None
    if isinstance(expected, list | tuple):
        if hasattr(got, "tolist") and not isinstance(got, list | tuple):
            got = got.tolist()
        if isinstance(got, range):
            got = list(got)
        if not isinstance(got, list | tuple):
            return f"expected {len(expected)} items ({describe(expected)}), got {type(got).__name__}."
        if len(got) != len(expected):
            return f"expected {len(expected)} items, got {len(got)}."
        for i, (a, b) in enumerate(zip(got, expected, strict=True)):
            if _whole(b) and as_number(a) is not None and not _whole(a):  # 2.0 cannot index a list
                return f"item {i}: expected a whole number ({int(b)}), got {float(as_number(a))!r} ({type(a).__name__})."
            problem = _differs(a, b, rtol, atol)
            if problem:
                return f"item {i}: {problem}"
        return None
    return None if bool(got == expected) else f"expected {describe(expected)}, got {describe(got)}."


def graph_cut(got: Any, expected: Any) -> str | None:
    """Why ``got`` cannot be trained through where ``expected`` (the reference's output) can: it carries no graph."""
    if getattr(expected, "requires_grad", False) and not getattr(got, "requires_grad", False):
        return (f"your result ({type(got).__name__}: {describe(got)}) is cut off from its graph (.item(), float(), "
                ".detach(), .numpy() or torch.no_grad() cut it): backward() could not reach the weights. Return the "
                "tensor itself.")
    return None


def _fitted(estimator: Any) -> bool:
    """True for a scikit-learn estimator that has been fitted (it has learned attributes, ending in "_")."""
    return any(k.endswith("_") and not k.startswith("__") for k in vars(estimator))


def changed_in_place(before: Any, after: Any) -> bool:
    """True if ``after`` is not exactly ``before`` (tensors, arrays, modules, containers), for inputs changed in place."""
    import numpy as np

    if hasattr(before, "state_dict") and callable(before.state_dict):
        a, b = before.state_dict(), after.state_dict()
        return a.keys() != b.keys() or any(changed_in_place(a[k], b[k]) for k in a)
    if hasattr(before, "get_params") and hasattr(before, "fit"):  # a scikit-learn estimator: fitted by the call?
        return _fitted(before) != _fitted(after)
    if hasattr(before, "columns") and hasattr(before, "equals"):  # a pandas DataFrame (or Series with columns)
        return not before.equals(after)
    if hasattr(before, "detach"):
        import torch

        if before.shape != after.shape or before.dtype != after.dtype:
            return True
        if before.is_floating_point() or before.is_complex():
            return not torch.allclose(before, after, rtol=0, atol=0, equal_nan=True)
        return not torch.equal(before, after)
    if isinstance(before, np.ndarray):
        return before.shape != after.shape or not np.array_equal(before, after, equal_nan=True)
    if isinstance(before, dict):
        return before.keys() != after.keys() or any(changed_in_place(before[k], after[k]) for k in before)
    if isinstance(before, list | tuple):
        return len(before) != len(after) or any(changed_in_place(a, b) for a, b in zip(before, after, strict=True))
    if isinstance(before, float) and isinstance(after, float) and math.isnan(before) and math.isnan(after):
        return False
    if isinstance(before, int | float | str | bytes | bool | type(None)):
        return before != after
    return False  # other objects (an estimator, a generator, a scheduler): their own state is theirs to change
