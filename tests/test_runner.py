"""Layer 3: the runner executes notebooks through papermill and checks their metrics."""

from __future__ import annotations

import json
import os

import pytest

from course import syllabus as syl
from course.commands import run as runner


@pytest.mark.notebooks
def test_runner_executes_notebooks_in_smoke_and_writes_its_summary_even_in_a_relative_folder(smoke_run):
    out, res = smoke_run  # `course run 00a 01a --out relative-run`, run in a temporary folder
    summary = json.loads((out / "summary.json").read_text())  # kernels run in the notebook's folder: still here
    result = summary["results"][0]
    assert summary["passed"] and result["status"] == "passed"
    assert result["metrics"]["cpu_matmul_tflops"] > 0 and result["memory"]["peak_rss_mb"] > 0
    assert (out / "00a-check-your-gpu.ipynb").exists()
    assert "00a-check-your-gpu" in res.stdout and "passed" in res.stdout
    if os.name == "posix":  # kernels talk over Unix sockets, so jupyter_client has no TCP warning to print
        assert "without encryption" not in res.stderr


def test_missed_thresholds_and_missing_metrics_fail_the_notebook():
    nb = syl.load().by_id("00a-check-your-gpu")
    checks = runner.check_metrics(nb, "smoke", {"cpu_matmul_tflops": 0.0})
    assert [c["ok"] for c in checks] == [False, False]


def test_seeded_metrics_must_repeat_but_timings_may_vary():
    a = runner.Result("nb", "passed", 1.0, run=1, metrics={"accuracy": 0.9, "epoch_s": 3.0})
    b = runner.Result("nb", "passed", 1.0, run=2, metrics={"accuracy": 0.9, "epoch_s": 4.0})
    c = runner.Result("nb", "passed", 1.0, run=3, metrics={"accuracy": 0.8, "epoch_s": 3.0})
    assert runner.compare_runs([a, b]) == []
    assert "accuracy was 0.9 in run 1, 0.8 in run 3" in runner.compare_runs([a, c])[0]
