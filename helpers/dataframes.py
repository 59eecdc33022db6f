"""Dataframes and models on the CPU (pandas, scikit-learn) and the GPU (RAPIDS cuDF, cuML): timed, checked equal.

cuDF and cuML install on Linux and WSL2 with an NVIDIA GPU, as wheels built for one CUDA major version:
:func:`install_line` names the ones that match PyTorch's CUDA (``torch.version.cuda``: ``cudf-cu13`` beside a
CUDA-13 PyTorch). Elsewhere ``engines()`` offers pandas alone and everything still runs. ``query`` is written
once against the pandas API, which cuDF implements, so the same function runs on either kind of frame.
``checksum`` reduces a result to one exact integer, so the engines can be compared for equality.

Run as a script (``python -m helpers.dataframes --rows 1000000``) it times the query with whatever
``import pandas`` gives: under ``python -m cudf.pandas -m helpers.dataframes ...`` that is cuDF's
zero-code-change pandas accelerator; with ``--kmeans`` it times scikit-learn's KMeans, which
``python -m cuml.accel -m helpers.dataframes --kmeans ...`` runs on the GPU without a code change.

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


def rapids_suffix(cuda: str | None = "torch") -> str | None:
    """The RAPIDS wheel suffix for a CUDA version ("13.0" -> "cu13"; default: PyTorch's); None without a match."""
    if cuda == "torch":
        import torch

        cuda = torch.version.cuda  # None for a CPU-only PyTorch
    major = int(str(cuda).split(".")[0]) if cuda else 0
    return f"cu{major}" if major >= 12 else None  # RAPIDS builds wheels for CUDA 12 and 13


def install_line(cuda: str | None = "torch") -> str:
    """One sentence: the cuDF and cuML wheels that match PyTorch's CUDA build (or why none does)."""
    if cuda == "torch":
        import torch

        cuda = torch.version.cuda
    suffix = rapids_suffix(cuda)
    if suffix is None:
        why = "a CPU-only build" if not cuda else f"CUDA {cuda}, older than RAPIDS' wheels (CUDA 12 or 13)"
        return (f"PyTorch here is {why}, so no RAPIDS wheel matches it: cuDF and cuML need Linux or WSL2, an NVIDIA "
                "GPU and the CUDA build of PyTorch.")
    return (f"PyTorch here is built for CUDA {cuda}: the matching wheels are `pip install cudf-{suffix} "
            f"cuml-{suffix}` (Linux or WSL2 only; docs.rapids.ai/install has the current command).")


def _module_status(name: str, what: str, instead: str) -> tuple[Any, str]:
    """The module if it imports (it needs a GPU and its driver), else None, with a sentence saying why."""
    import importlib

    try:
        module = importlib.import_module(name)
    except ImportError:
        return None, f"{what} is not installed: {instead} (dataframes.install_line() names the wheel to install)."
    except Exception as err:  # noqa: BLE001 - a CUDA driver problem surfaces at import
        return None, f"{what} is installed but did not start ({type(err).__name__}: {err}): {instead}."
    return module, f"{what} {module.__version__} is available."


def cudf_status() -> tuple[Any, str]:
    """The ``cudf`` module if it imports and sees a GPU, else None, with a sentence saying why."""
    return _module_status("cudf", "cuDF", "everything below runs on pandas")


def cuml_status() -> tuple[Any, str]:
    """The ``cuml`` module if it imports and sees a GPU, else None, with a sentence saying why."""
    return _module_status("cuml", "cuML", "scikit-learn alone runs the model section, on the CPU")


def pandas_pin() -> str:
    """One sentence: whether this pandas is one the installed cuDF supports (read from its requirements)."""
    from importlib import metadata

    import pandas as pd

    for dist in ("cudf-cu13", "cudf-cu12"):
        try:
            wanted = [r.split(";")[0] for r in metadata.requires(dist) or [] if r.lower().startswith("pandas")]
        except metadata.PackageNotFoundError:
            continue
        from packaging.requirements import Requirement

        spec = Requirement(wanted[0]).specifier if wanted else None
        ok = spec is None or spec.contains(pd.__version__, prereleases=True)
        return (f"pandas {pd.__version__} is {'one' if ok else 'NOT one'} that {dist} supports ({spec or 'any'})"
                + ("." if ok else ": give RAPIDS its own virtual environment with the pandas it asks for."))
    return (f"pandas {pd.__version__} is pinned by this course. Each cuDF release supports a range of pandas versions "
            "and pip moves pandas into it: try `pip install --dry-run` first, and if it would change pandas, give "
            "RAPIDS its own virtual environment.")


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


def sync(engine: str) -> None:
    """Wait until the GPU has finished the work queued so far (cuDF, cuML); nothing to wait for on the CPU."""
    if engine in ("cudf", "cuml"):
        try:
            import cupy

            cupy.cuda.runtime.deviceSynchronize()  # RAPIDS runs on the default stream; wait for it
        except ImportError:
            pass


def time_work(work: Callable[[], Any], engine: str, repeats: int = 3) -> float:
    """Median seconds of ``work()`` on an engine: one warm-up run, then ``repeats`` runs, each synchronised."""
    work()  # warm-up: the first cuDF or cuML call also compiles and caches GPU kernels
    sync(engine)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        sync(engine)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def time_query(df: Any, engine: str, repeats: int = 3) -> float:
    """Median seconds of ``query`` on a frame already in the engine (one warm-up run first)."""
    return time_work(lambda: query(df), engine, repeats)


def as_numpy(values: Any) -> Any:
    """A NumPy array from NumPy, CuPy (GPU: copied to the CPU), cuDF or pandas values."""
    if hasattr(values, "to_numpy"):
        return values.to_numpy()
    return values.get() if hasattr(values, "get") and not isinstance(values, np.ndarray) else np.asarray(values)


def make_blobs_table(rows: int, centers: int = 8, features: int = 16, seed: int = 0) -> tuple[Any, Any]:
    """Generated rows for clustering: float32 features around ``centers`` separate points, and each row's group."""
    from sklearn.datasets import make_blobs

    X, groups = make_blobs(n_samples=rows, n_features=features, centers=centers, random_state=seed)
    return X.astype(np.float32), groups


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


def sweep(sizes: list[int], names: list[str] | None = None, repeats: int = 3, seed: int = 0,
          timer: Callable[[Callable[[], Any], str], float] | None = None) -> Any:
    """Time ``query`` for every table size on every engine with ``timer(work, engine)``; a pandas frame of timings."""
    import pandas as pd
    from tqdm.auto import tqdm

    names = names or list(engines())
    timer = timer or (lambda work, engine: time_work(work, engine, repeats))
    rows = []
    for n in tqdm(sizes, desc="table sizes"):
        table = make_table(n, seed=seed)
        for name in names:
            df = to_engine(table, name)  # copying the table to the GPU is a one-off cost, not timed
            seconds = timer(lambda df=df: query(df), name)
            rows.append({"engine": name, "rows": n, "seconds": seconds, "rows_per_s": n / seconds,
                         "checksum": checksum(query(df))})
            del df
    return pd.DataFrame(rows)


def _kmeans(rows: int, repeats: int) -> None:
    """Time scikit-learn's KMeans with whatever ``sklearn`` this process imports (cuml.accel's, under it)."""
    from sklearn.cluster import KMeans, kmeans_plusplus

    X, _ = make_blobs_table(rows)
    start, _ = kmeans_plusplus(X, 8, random_state=0)  # the same starting centres in every run
    model = KMeans(8, init=start, n_init=1)
    accelerated = "cuml.accel" in sys.modules
    seconds = time_work(lambda: model.fit(X), "cuml" if accelerated else "sklearn", repeats)
    print(f"scikit-learn KMeans (cuml.accel loaded: {accelerated}); {rows:,} rows: {seconds * 1000:.1f} ms; "
          f"inertia {float(model.inertia_):.6g}")


def main(argv: list[str] | None = None) -> None:
    """CLI: time the query (or ``--kmeans``) on a generated table with whatever ``pandas`` (``sklearn``) is imported."""
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kmeans", action="store_true", help="time scikit-learn's KMeans instead of the query")
    args = parser.parse_args(argv)
    if args.kmeans:
        _kmeans(args.rows, args.repeats)
        return
    df = make_table(args.rows)
    seconds = time_query(df, "pandas", args.repeats)
    accelerated = "cudf.pandas" in sys.modules
    print(f"pandas {pd.__version__} (cudf.pandas loaded: {accelerated}); {args.rows:,} rows: "
          f"{seconds * 1000:.1f} ms; checksum {checksum(query(df))}")


if __name__ == "__main__":
    main()
