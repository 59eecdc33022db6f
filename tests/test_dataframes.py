"""Extra e5's helpers: the query and its checksum, the size sweep, and cuDF present, broken or missing."""

from __future__ import annotations

import subprocess
import sys
import types

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


def test_missing_cudf_is_explained_with_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "cudf", None)  # what `import cudf` sees where it is not installed
    module, message = dataframes.cudf_status()
    assert module is None and "pip install cudf-cu12" in message
    assert list(dataframes.engines()) == ["pandas"]


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


def test_frames_script_prints_timing_and_checksum():
    out = subprocess.run([sys.executable, "-m", "helpers.dataframes", "--rows", "2000", "--repeats", "1"],
                         capture_output=True, text=True, check=True).stdout
    assert "2,000 rows" in out and "checksum" in out and "cudf.pandas loaded: False" in out
