"""Extra e5's helpers and timing cell: the query and its checksum, the fair timing method (warm-up, synchronise,
repeat, median), the size sweep, cuDF and cuML present, broken or missing, the wheel that matches PyTorch's CUDA,
and k-means on scikit-learn."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

from helpers import dataframes


def test_query_is_repeatable_and_the_checksum_tells_results_apart():
    table = dataframes.make_table(5000, keys=50, seed=1)
    first, second = dataframes.query(table), dataframes.query(dataframes.make_table(5000, keys=50, seed=1))
    assert dataframes.checksum(first) == dataframes.checksum(second)
    changed = first.copy()
    changed.iloc[0, changed.columns.get_loc("units")] += 1
    assert dataframes.checksum(changed) != dataframes.checksum(first)
    assert (first["orders"] <= first["units"]).all() and first.index.is_monotonic_increasing


def test_sweep_times_every_size_on_every_engine_with_matching_checksums():
    out = dataframes.sweep([100, 1000], repeats=1)
    assert set(out["rows"]) == {100, 1000} and set(out["engine"]) == set(dataframes.engines())
    assert (out["seconds"] > 0).all()
    assert out.groupby("rows")["checksum"].nunique().eq(1).all()


def test_missing_cudf_is_explained_and_pandas_carries_on(monkeypatch):
    monkeypatch.setitem(sys.modules, "cudf", None)  # what `import cudf` sees where it is not installed
    module, message = dataframes.cudf_status()
    assert module is None and "cuDF is not installed" in message and "runs on pandas" in message
    assert list(dataframes.engines()) == ["pandas"]


def test_missing_cuml_says_scikit_learn_runs_alone(monkeypatch):
    monkeypatch.setitem(sys.modules, "cuml", None)
    module, message = dataframes.cuml_status()
    assert module is None and "cuML is not installed: scikit-learn alone" in message


@pytest.mark.parametrize(("cuda", "suffix"), [("13.0", "cu13"), ("12.8", "cu12"), ("12.1", "cu12"), ("11.8", None),
                                              (None, None)])
def test_the_rapids_wheel_matches_the_cuda_major_version_of_pytorch(cuda, suffix):
    assert dataframes.rapids_suffix(cuda) == suffix
    line = dataframes.install_line(cuda)
    if suffix:
        assert f"pip install cudf-{suffix} cuml-{suffix}" in line and f"CUDA {cuda}" in line
    else:
        assert "no RAPIDS wheel matches" in line and "pip install" not in line


def test_by_default_the_wheel_is_read_from_torch_version_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.version, "cuda", "13.0")
    assert dataframes.rapids_suffix() == "cu13" and "cudf-cu13" in dataframes.install_line()
    monkeypatch.setattr(torch.version, "cuda", None)  # a CPU-only PyTorch
    assert dataframes.rapids_suffix() is None and "CPU-only" in dataframes.install_line()


def test_the_pandas_pin_is_checked_against_the_installed_cudfs_requirement(monkeypatch):
    from importlib import metadata

    import pandas as pd

    def requires(dist):
        if dist == "cudf-cu13":
            return ["numpy>=1.23", f"pandas<{pd.__version__}", "pyarrow; extra == 'test'"]
        raise metadata.PackageNotFoundError(dist)

    monkeypatch.setattr(metadata, "requires", requires)
    assert "NOT one that cudf-cu13 supports" in dataframes.pandas_pin()
    monkeypatch.setattr(metadata, "requires", lambda dist: [f"pandas>={pd.__version__}"])
    assert f"pandas {pd.__version__} is one that cudf-cu13 supports" in dataframes.pandas_pin()
    monkeypatch.setattr(metadata, "requires", lambda dist: (_ for _ in ()).throw(metadata.PackageNotFoundError(dist)))
    assert "pip install --dry-run" in dataframes.pandas_pin()


def test_a_cudf_that_fails_to_start_is_named_and_pandas_carries_on(monkeypatch):
    class BrokenDriver:
        def find_spec(self, name, path=None, target=None):
            if name == "cudf":
                raise RuntimeError("CUDA driver version is insufficient")

    monkeypatch.delitem(sys.modules, "cudf", raising=False)
    monkeypatch.setattr(sys, "meta_path", [BrokenDriver(), *sys.meta_path])
    module, message = dataframes.cudf_status()
    assert module is None and "did not start" in message and "insufficient" in message
    assert list(dataframes.engines()) == ["pandas"]


def test_a_working_cudf_is_offered_beside_pandas(monkeypatch):
    fake = types.ModuleType("cudf")
    fake.__version__ = "25.02"
    monkeypatch.setitem(sys.modules, "cudf", fake)
    assert dataframes.cudf_status() == (fake, "cuDF 25.02 is available.")
    assert list(dataframes.engines()) == ["pandas", "cudf"]


def _notebook_timer():
    from course import notebook_code

    return notebook_code.definitions("e5", "time_it", REPEATS=3).time_it


def test_the_notebooks_timer_warms_up_waits_for_the_gpu_after_each_run_and_keeps_the_median(monkeypatch):
    import time

    events, clock = [], iter([0.0, 1.0, 10.0, 13.0, 20.0, 22.0, 30.0, 100.0])  # runs of 1, 3, 2 and 70 seconds
    monkeypatch.setattr(dataframes, "sync", lambda engine: events.append(("sync", engine)))
    monkeypatch.setattr(time, "perf_counter", lambda: next(clock))
    seconds = _notebook_timer()(lambda: events.append(("work", None)), "cudf", repeats=4)
    assert events == [("work", None), ("sync", "cudf")] * 5  # a warm-up, then 4 timed runs, each waited for
    assert seconds == 2.5  # the median of 1, 3, 2 and 70: the one slow run does not move it (the mean would be 19)


def test_the_sweep_times_every_size_with_the_timer_it_is_given():
    calls = []

    def timer(work, engine):
        calls.append(engine)
        work()
        return 0.5

    out = dataframes.sweep([100, 300], ["pandas"], timer=timer)
    assert calls == ["pandas", "pandas"] and out["seconds"].tolist() == [0.5, 0.5]
    assert out["rows_per_s"].tolist() == [200.0, 600.0]
    real = dataframes.sweep([200], ["pandas"], timer=_notebook_timer())  # the notebook's own timer, for real
    assert (real["seconds"] > 0).all()


def test_kmeans_tables_are_float32_and_the_same_start_gives_the_groups_they_were_drawn_from():
    from sklearn.cluster import KMeans, kmeans_plusplus
    from sklearn.metrics import adjusted_rand_score

    X, groups = dataframes.make_blobs_table(3000, centers=8, seed=0)
    assert X.dtype.name == "float32" and X.shape == (3000, 16) and set(groups) == set(range(8))
    start, _ = kmeans_plusplus(X, 8, random_state=0)
    labels = KMeans(8, init=start, n_init=1).fit(X).labels_
    assert adjusted_rand_score(groups, labels) > 0.99
    assert dataframes.as_numpy(labels) is labels or (dataframes.as_numpy(labels) == labels).all()


def test_kmeans_script_says_whether_cuml_accel_ran():
    out = subprocess.run([sys.executable, "-m", "helpers.dataframes", "--kmeans", "--rows", "2000", "--repeats", "1"],
                         capture_output=True, text=True, check=True).stdout
    assert "KMeans (cuml.accel loaded: False); 2,000 rows" in out and "inertia" in out


def test_frames_script_prints_timing_and_checksum():
    out = subprocess.run([sys.executable, "-m", "helpers.dataframes", "--rows", "2000", "--repeats", "1"],
                         capture_output=True, text=True, check=True).stdout
    assert "2,000 rows" in out and "checksum" in out and "cudf.pandas loaded: False" in out
