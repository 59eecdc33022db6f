"""Dataframes on the CPU (pandas) and the GPU (RAPIDS cuDF): one query, timed on each, checked equal.

cuDF installs on Linux and WSL2 with an NVIDIA GPU (``pip install cudf-cu12``); elsewhere
``engines()`` offers pandas alone and everything still runs. ``query`` is written once against
the pandas API, which cuDF implements, so the same function runs on either kind of frame.
``checksum`` reduces a result to one exact integer, so the engines can be compared for equality.

Run as a script (``python -m helpers.dataframes --rows 1000000``) it times the query with whatever
``import pandas`` gives: under ``python -m cudf.pandas helpers/dataframes.py ...`` that is cuDF's
zero-code-change pandas accelerator.

Taught in extra e5 (e5-gpu-dataframes).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def cudf_status() -> tuple[Any, str]:
    """The ``cudf`` module if it imports and sees a GPU, else None, with a sentence saying why."""
    try:
        import cudf
    except ImportError:
        return None, ("cuDF is not installed. It needs Linux or WSL2 with an NVIDIA GPU: "
                      "`pip install cudf-cu12` (see docs.rapids.ai/install); everything below runs on pandas.")
    except Exception as err:  # noqa: BLE001 - a CUDA driver problem surfaces at import
        return None, f"cuDF is installed but did not start ({type(err).__name__}: {err}); using pandas only."
    return cudf, f"cuDF {cudf.__version__} is available."


def engines() -> dict[str, Any]:
    """The dataframe libraries available here, by name: always pandas, and cudf when it works."""
    import pandas as pd

    found = {"pandas": pd}
    cudf, _ = cudf_status()
    if cudf is not None:
        found["cudf"] = cudf
    return found


def make_table(rows: int, keys: int = 1000, seed: int = 0) -> Any:
    """A generated sales-like pandas table: ``key`` (int), ``qty`` (int), ``price`` (float), seeded."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "key": rng.integers(0, keys, rows, dtype=np.int64),
        "qty": rng.integers(1, 10, rows, dtype=np.int64),
        "price": rng.gamma(2.0, 10.0, rows),
    })


def to_engine(df: Any, engine: str) -> Any:
    """Copy a pandas frame to the named engine (for cuDF: into GPU memory)."""
    if engine == "pandas":
        return df
    return engines()[engine].from_pandas(df)


def query(df: Any) -> Any:
    """Filter, derive a column, group by key and aggregate: the same code on pandas or cuDF."""
    big = df[df["price"] > 5.0]
    big = big.assign(revenue=big["qty"] * big["price"])
    out = big.groupby("key").agg(orders=("qty", "count"), units=("qty", "sum"), revenue=("revenue", "sum"))
    return out.sort_index()


def checksum(result: Any) -> int:
    """One exact integer from a query result's integer columns: equal results give equal checksums."""
    table = result.to_pandas() if hasattr(result, "to_pandas") else result
    keys = table.index.to_numpy(dtype=np.int64)
    orders = table["orders"].to_numpy(dtype=np.int64)
    units = table["units"].to_numpy(dtype=np.int64)
    return int(((keys * 1_000_003 + orders * 1_009 + units) % (2**31 - 1)).sum())


def _sync(engine: str) -> None:
    if engine != "pandas":
        try:
            import cupy

            cupy.cuda.runtime.deviceSynchronize()  # cuDF runs on the default stream; wait for it
        except ImportError:
            pass


def time_query(df: Any, engine: str, repeats: int = 3) -> float:
    """Median seconds of ``query`` on a frame already in the engine (one warm-up run first)."""
    query(df)  # warm-up: the first cuDF call also compiles and caches GPU kernels
    _sync(engine)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        query(df)
        _sync(engine)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def device_peak(fn: Callable[[], Any], interval: float = 0.005) -> tuple[Any, int]:
    """Run ``fn`` while sampling the GPU's device-wide used memory; returns (result, peak bytes above start).

    cuDF allocates through RMM, not PyTorch, so PyTorch's own counters cannot see it; the
    device-wide figure (``cudaMemGetInfo``) does. Returns a peak of 0 without a CUDA GPU.
    """
    import torch

    if not torch.cuda.is_available():
        return fn(), 0
    free0, total = torch.cuda.mem_get_info()
    peak, stop = [total - free0], threading.Event()

    def sample() -> None:
        while not stop.wait(interval):
            free, _ = torch.cuda.mem_get_info()
            peak.append(total - free)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        result = fn()
    finally:
        stop.set()
        thread.join()
    return result, max(peak) - (total - free0)


def sweep(sizes: list[int], names: list[str] | None = None, repeats: int = 3, seed: int = 0) -> Any:
    """Time ``query`` for every table size on every engine; returns a pandas frame of the timings."""
    import pandas as pd
    from tqdm.auto import tqdm

    names = names or list(engines())
    rows = []
    for n in tqdm(sizes, desc="table sizes"):
        table = make_table(n, seed=seed)
        for name in names:
            df = to_engine(table, name)
            seconds = time_query(df, name, repeats)
            rows.append({"engine": name, "rows": n, "seconds": seconds, "rows_per_s": n / seconds,
                         "checksum": checksum(query(df))})
            del df
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    """CLI: time the query on a generated table with whatever ``pandas`` this process imports."""
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    df = make_table(args.rows)
    seconds = time_query(df, "pandas", args.repeats)
    accelerated = "cudf.pandas" in sys.modules
    print(f"pandas {pd.__version__} (cudf.pandas loaded: {accelerated}); {args.rows:,} rows: "
          f"{seconds * 1000:.1f} ms; checksum {checksum(query(df))}")


if __name__ == "__main__":
    main()
