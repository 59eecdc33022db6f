"""Exercises for the extra "GPU dataframes: pandas on the CPU, RAPIDS cuDF on the GPU"."""

from __future__ import annotations

from typing import Any

from course.exercises import Case, Exercise, choice, near, same_as
from course.syllabus import objective

NOTEBOOK = "e5-gpu-dataframes"

SAME_QUERY = objective(NOTEBOOK, "Run the same")
SIZE = objective(NOTEBOOK, "Measure query time")
ACCELERATE = objective(NOTEBOOK, "Accelerate unchanged pandas")


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
    objective=SIZE,
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
    objective=SIZE,
)


def _q3_solve() -> str:
    return "large"


_q3_check = choice("large", {
    "small": (
        "on a small table the fixed cost of each GPU operation (launching kernels, synchronising) "
        "is most of the time; look at the left end of the query-time plot."),
})


q3 = Exercise(
    "q3",
    "For which tables does moving a group-by to the GPU pay off: 'small' or 'large'?",
    _q3_check,
    "Compare the slopes of the two lines in the query-time plot, and where they start.",
    _q3_solve,
    objective=SIZE,
)


def _q4_solve() -> str:
    return "cpu"


_q4_check = choice("cpu", {
    "gpu": (
        "a row-wise apply of an arbitrary Python function is not something cuDF can run; "
        "cudf.pandas falls back to real pandas for it."),
})


q4 = Exercise(
    "q4",
    "With cudf.pandas loaded, where does df.apply(my_python_function, axis=1) run: 'cpu' or 'gpu'?",
    _q4_check,
    "Section 5 quotes RAPIDS' own example of an operation that falls back.",
    _q4_solve,
    objective=ACCELERATE,
)


def key_summary(df: Any) -> Any:
    """Per key, over the rows with qty >= 2: how many rows, their total qty, their highest price; by key."""
    kept = df[df["qty"] >= 2]  # filter first, then group
    out = kept.groupby("key").agg(orders=("qty", "count"), units=("qty", "sum"), max_price=("price", "max"))
    return out.sort_index()  # pandas sorts group keys by default, cuDF does not: say it


def _no_filter(df: Any) -> Any:
    out = df.groupby("key").agg(orders=("qty", "count"), units=("qty", "sum"), max_price=("price", "max"))
    return out.sort_index()


def _count_for_units(df: Any) -> Any:
    out = key_summary(df)
    out["units"] = out["orders"]
    return out


def _key_as_column(df: Any) -> Any:
    return key_summary(df).reset_index()


def _frames_differ(got: Any, expected: Any) -> str | None:
    import pandas as pd

    if not isinstance(got, pd.DataFrame):
        return f"expected a pandas DataFrame, got {type(got).__name__}."
    if list(got.columns) != list(expected.columns):
        return f"expected the columns {list(expected.columns)}, got {list(got.columns)}."
    if got.index.name != expected.index.name or len(got) != len(expected):
        return (f"expected {len(expected)} rows indexed by {expected.index.name!r}, got {len(got)} rows "
                f"indexed by {got.index.name!r}.")
    try:
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    except AssertionError as err:
        return "the values differ: " + " ".join(str(err).split())[:300]
    return None


def _summary_cases() -> list[Case]:
    import pandas as pd

    from helpers.dataframes import make_table

    small = pd.DataFrame({"key": [2, 0, 2, 1, 0, 1], "qty": [3, 1, 5, 1, 2, 1], "price": [9.5, 4.0, 20.0, 7.0, 3.5, 8.0]})
    return [Case("6 rows, where key 1 has no row with qty >= 2", (small,)),
            Case("a generated table of 200 rows and 5 keys", (make_table(200, keys=5, seed=4),))]


q5 = Exercise(
    "q5",
    "Write key_summary(df) for a table with the columns key, qty and price (like dataframes.make_table's): keep "
    "the rows with qty >= 2, then for each key compute orders (how many rows), units (their total qty) and "
    "max_price (their highest price). Return a DataFrame indexed by key, in increasing key order, with the "
    "columns orders, units, max_price. Write it with the pandas API only, so cuDF can run it too.",
    same_as(key_summary, _summary_cases, mistakes=[
        (_no_filter, "the rows with qty < 2 are still in: filter with df[df['qty'] >= 2] before grouping."),
        (_count_for_units, "units is the total qty ('sum'), not the number of rows ('count')."),
        (_key_as_column, "key should be the index (what groupby gives), not a column: drop the reset_index or "
                         "as_index=False."),
    ], compare=_frames_differ, expects="your key_summary function"),
    "kept = df[df['qty'] >= 2]; kept.groupby('key').agg(orders=('qty', 'count'), units=('qty', 'sum'), "
    "max_price=('price', 'max')).sort_index()",
    lambda: key_summary,
    objective=SAME_QUERY,
)
