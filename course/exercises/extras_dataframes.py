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
    _q1_solve() * 1e6: "That is in bytes; divide by 10**6 for MB.",
    _q1_solve() / 1e3: "That is in GB; the question asks for MB (10**6 bytes).",
    _q1_solve() / 8: "That counts the values; each takes 8 bytes.",
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
    _q2_solve() * 1000: "240 MB is 0.24 GB, not 240 GB: convert the size to GB before dividing by 25 GB/s.",
    _q2_solve() * 2: "That is a round trip; the question asks for one copy, to the GPU.",
})


q2 = Exercise(
    "q2",
    "Copying that 240 MB table to the GPU over PCIe at an effective 25 GB/s takes how many milliseconds?",
    _q2_check,
    "time = size / bandwidth; 240 MB is 0.24 GB.",
    _q2_solve,
    objective=SIZE,
)


def _q3_solve() -> float:
    cpu_fixed, cpu_per_row = 0.5e-3, 10e-9  # seconds: pandas
    gpu_fixed, gpu_per_row = 3e-3, 2e-9  # seconds: cuDF, the table already on the GPU
    return (gpu_fixed - cpu_fixed) / (cpu_per_row - gpu_per_row)  # where the two lines cross


q3 = Exercise(
    "q3",
    "On some machine a query takes 0.5 ms + 10 ns per row on pandas, and 3 ms + 2 ns per row on cuDF (the table "
    "already on the GPU). From about how many rows is cuDF the faster one?",
    near(_q3_solve(), rel=0.03, unit="rows", mistakes={
        (3e-3 - 0.5e-3) / 10e-9: "The GPU's rows are not free: 2 ns each. Divide the extra fixed cost by the "
                                 "difference of the per-row costs (10 - 2 ns).",
        (3e-3 + 0.5e-3) / (10e-9 - 2e-9): "Subtract the fixed costs: the GPU's extra fixed cost is 3 - 0.5 ms.",
        (3e-3 - 0.5e-3) / (10e-6 - 2e-6): "A nanosecond is 10^-9 s (a microsecond is 10^-6 s).",
        3e-3 / 2e-9: "Compare the two engines' totals: they are equal where 0.5 ms + 10 ns x n = 3 ms + 2 ns x n.",
        (3e-3 - 0.5e-3) / 2e-9: "Divide by the difference of the per-row costs (10 - 2 ns), not by the GPU's alone.",
        3e-3 / (10e-9 - 2e-9): "Subtract pandas' fixed cost: the GPU's extra fixed cost is 3 - 0.5 ms.",
    }),
    "Write both times as fixed + per_row x n and find the n where they are equal: n = (3 - 0.5) ms / (10 - 2) ns.",
    _q3_solve,
    objective=SIZE,
)


def _q4_solve() -> str:
    return "copies"


_q4_check = choice("copies", {
    "nothing": (
        "a fallback runs real pandas on the CPU, so the data must first come back from GPU memory to the CPU, "
        "and go back for the next GPU step: at about 25 GB/s each way, some 40 ms for 480 MB, more than the "
        "group-by itself takes on the GPU."),
    "recompiling": (
        "the GPU kernels stay compiled and cached for the whole process; what a fallback adds is moving the "
        "data between GPU memory and the CPU's."),
})


q4 = Exercise(
    "q4",
    "With cudf.pandas loaded, a script runs a group-by on a 480 MB table (on the GPU), then "
    "df.apply(my_python_function, axis=1) (which cuDF cannot run), then another group-by. Besides running the apply "
    "on the CPU, what does that middle step cost: 'nothing', 'copies' (the data moved between GPU and CPU memory) "
    "or 'recompiling' (the GPU kernels compiled again)?",
    _q4_check,
    "Where is the data before the apply, and where must it be for real pandas to run it? And for the next "
    "group-by?",
    _q4_solve,
    objective=ACCELERATE,
)


def key_summary(df: Any) -> Any:
    """Per key, over the rows with qty >= 2: how many rows, their total qty, their highest price; by key."""
    kept = df[df["qty"] >= 2]  # filter first, then group
    out = kept.groupby("key").agg(orders=("qty", "count"), units=("qty", "sum"), max_price=("price", "max"))
    return out.sort_index()  # pandas sorts group keys by default, cuDF does not: say it


def _with_a_dict(df: Any) -> Any:
    kept = df.loc[df["qty"].ge(2)]
    out = kept.groupby("key").agg({"qty": ["count", "sum"], "price": "max"})
    out.columns = ["orders", "units", "max_price"]  # flatten the two-level column names
    return out.sort_index()


def _with_a_loop(df: Any) -> Any:
    import pandas as pd

    rows: dict[Any, list] = {}
    for key, qty, price in zip(df["key"], df["qty"], df["price"], strict=True):
        if qty >= 2:
            orders, units, top = rows.get(key, [0, 0, float("-inf")])
            rows[key] = [orders + 1, units + qty, max(top, price)]
    out = pd.DataFrame.from_dict(rows, orient="index", columns=["orders", "units", "max_price"])
    return out.rename_axis("key").sort_index()


def _no_filter(df: Any) -> Any:
    out = df.groupby("key").agg(orders=("qty", "count"), units=("qty", "sum"), max_price=("price", "max"))
    return out.sort_index()


def _count_for_units(df: Any) -> Any:
    out = key_summary(df)
    out["units"] = out["orders"]
    return out


def _key_as_column(df: Any) -> Any:
    return key_summary(df).reset_index()


def _without_sort(df: Any) -> Any:
    kept = df[df["qty"] >= 2]
    return kept.groupby("key").agg(orders=("qty", "count"), units=("qty", "sum"), max_price=("price", "max"))


def _more_than_two(df: Any) -> Any:
    kept = df[df["qty"] > 2]
    return kept.groupby("key").agg(orders=("qty", "count"), units=("qty", "sum"), max_price=("price", "max")).sort_index()


def _mean_price(df: Any) -> Any:
    kept = df[df["qty"] >= 2]
    return kept.groupby("key").agg(orders=("qty", "count"), units=("qty", "sum"), max_price=("price", "mean")).sort_index()


def _every_key_kept(df: Any) -> Any:
    import pandas as pd

    def summary(group: Any) -> Any:
        kept = group[group["qty"] >= 2]
        return pd.Series({"orders": len(kept), "units": kept["qty"].sum(), "max_price": kept["price"].max()})

    return df.groupby("key")[["qty", "price"]].apply(summary).sort_index()  # keeps keys with no row left


def _adds_a_column_in_place(df: Any) -> Any:
    df["keep"] = df["qty"] >= 2  # a helper column added to the caller's table
    kept = df[df["keep"]]
    return kept.groupby("key").agg(orders=("qty", "count"), units=("qty", "sum"), max_price=("price", "max")).sort_index()


def _with_query(df: Any) -> Any:
    """Another style: DataFrame.query, a groupby that sorts the keys itself, and named Series built one by one."""
    import pandas as pd

    groups = df.query("qty >= 2").groupby("key", sort=True)
    return pd.DataFrame({"orders": groups.size(), "units": groups["qty"].sum(), "max_price": groups["price"].max()})


def _engine_like_cudf(table: Any) -> Any:
    """The table as a frame whose group-by leaves the keys in the order it meets them, as cuDF's does."""
    import pandas as pd

    class UnsortedGroupsFrame(pd.DataFrame):
        @property
        def _constructor(self) -> type:
            return UnsortedGroupsFrame

        def groupby(self, *args: Any, sort: bool = False, **kwargs: Any) -> Any:  # cuDF's default: sort=False
            return super().groupby(*args, sort=sort, **kwargs)

    return UnsortedGroupsFrame(table)


def _frames_differ(got: Any, expected: Any) -> str | None:
    import pandas as pd

    if not isinstance(got, pd.DataFrame):
        return f"expected a pandas DataFrame, got {type(got).__name__}."
    if list(got.columns) != list(expected.columns):
        return f"expected the columns {list(expected.columns)}, got {list(got.columns)}."
    if got.index.name != expected.index.name or len(got) != len(expected):
        return (f"expected {len(expected)} rows indexed by {expected.index.name!r}, got {len(got)} rows "
                f"indexed by {got.index.name!r}.")
    if list(got.index) != list(expected.index) and sorted(map(str, got.index)) == sorted(map(str, expected.index)):
        return (f"the right keys, in the wrong order: {list(got.index)[:8]}; return them in increasing key order "
                "(.sort_index()).")
    try:
        pd.testing.assert_frame_equal(pd.DataFrame(got), pd.DataFrame(expected), check_dtype=False)
    except AssertionError as err:
        return "the values differ: " + " ".join(str(err).split())[:300]
    return None


def _summary_cases() -> list[Case]:
    import pandas as pd

    from helpers.dataframes import make_table

    small = pd.DataFrame({"key": [2, 0, 2, 1, 0, 1], "qty": [3, 1, 5, 1, 2, 1], "price": [9.5, 4.0, 20.0, 7.0, 3.5, 8.0]})
    names = pd.DataFrame({"price": [1.5, 2.5, 3.0, 9.0, 0.5], "key": ["tea", "cake", "tea", "bun", "cake"],
                          "qty": [2, 7, 4, 2, 1], "shop": ["a", "b", "a", "c", "b"]})  # other columns, other order
    return [Case("6 rows, where key 1 has no row with qty >= 2", (small,)),
            Case("a generated table of 200 rows and 5 keys", (make_table(200, keys=5, seed=4),)),
            Case("5 rows with text keys, the columns in another order and one more column", (names,)),
            Case("a generated table of 1,000 rows and 40 keys", (make_table(1000, keys=40, seed=9),)),
            Case("the 6-row table on an engine whose group-by does not sort the keys (as cuDF's does not)",
                 (_engine_like_cudf(small),))]


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
        (_without_sort, "the keys are in the order the engine met them: pandas sorts group keys by default, cuDF "
                        "does not. End with .sort_index() so both engines give increasing key order."),
        (_more_than_two, "you kept qty > 2; the rows to keep have qty >= 2 (2 included)."),
        (_mean_price, "max_price is the highest price of the kept rows ('max'), not their mean."),
        (_every_key_kept, "a key whose rows are all filtered out must not appear: filter the rows first, then "
                          "group what is left."),
    ], alternatives=[_with_a_dict, _with_a_loop, _with_query], compare=_frames_differ, expects="your key_summary function"),
    "kept = df[df['qty'] >= 2]; kept.groupby('key').agg(orders=('qty', 'count'), units=('qty', 'sum'), "
    "max_price=('price', 'max')).sort_index()",
    lambda: key_summary,
    objective=SAME_QUERY,
    wrong=((_adds_a_column_in_place, "in place"),),
)
