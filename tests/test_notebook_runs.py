"""Reliability: every notebook, in any order, twice, offline, and nothing lost.

- Order and idempotence: every notebook runs in the smoke profile in a random order (the seed is
  printed; set COURSE_SHUFFLE_SEED to replay one) and each twice in fresh kernels; seeded metrics
  must be identical. When `make test` has just executed the notebooks through nbval with
  metrics recorded (COURSE_NBVAL_METRICS points at them), that run is the first of the two.
- Offline full profile: a notebook that downloads something stops in its first cells with a
  message naming what is missing, when HF_HUB_OFFLINE=1 and COURSE_OFFLINE=1.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import nbformat
import pytest

from course import kernels
from course import syllabus as syl
from course.commands import run as runner
from helpers.metrics import is_measurement

COURSE = syl.load()


@pytest.mark.notebooks
def test_every_notebook_in_random_order_twice_gives_identical_seeded_metrics(tmp_path):
    seed = int(os.environ.get("COURSE_SHUFFLE_SEED") or random.SystemRandom().randrange(10_000))
    print(f"shuffle seed: {seed} (replay with COURSE_SHUFFLE_SEED={seed})")
    earlier = Path(os.environ["COURSE_NBVAL_METRICS"]) if os.environ.get("COURSE_NBVAL_METRICS") else None
    repeat = 1 if earlier and earlier.is_dir() else 2
    jobs = int(os.environ.get("COURSE_TEST_JOBS", "2"))
    summary = runner.run(list(COURSE.notebooks), "smoke", tmp_path, shuffle=seed, repeat=repeat, jobs=jobs)
    failed = [f"{r['notebook']}: {r['status']} {r['message']}" for r in summary["results"] if r["status"] != "passed"]
    assert not failed, f"seed {seed}: " + "; ".join(failed)
    assert not summary["differences_between_runs"], summary["differences_between_runs"]
    assert len(summary["results"]) == len(COURSE.notebooks) * repeat
    if repeat == 1:  # compare with the nbval run of the same notebooks
        differences = []
        for res in summary["results"]:
            first = earlier / f"{res['notebook']}.json"
            assert first.exists(), f"{res['notebook']}: the nbval run recorded no metrics"
            before = json.loads(first.read_text()).get("metrics", {})
            for name, value in res["metrics"].items():
                if not is_measurement(name) and before.get(name) != value:
                    differences.append(f"{res['notebook']}: {name} {before.get(name)} then {value}")
        assert not differences, differences


def test_one_offline_full_profile_stops_in_a_real_kernel_with_one_clear_line(tmp_path, monkeypatch):
    """Every downloader's opening cell is checked in-process (test_full_profile_needs); this one goes through
    papermill and a kernel, as a learner's run would: the stop is CannotRunFull, in the opening cell."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    nb = COURSE.by_id("07a-lora-and-qlora")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setenv("COURSE_PROFILE", "full")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    monkeypatch.setenv("JUPYTER_PATH", str(kernels.kernel_dir()))
    with pytest.raises(PapermillExecutionError) as err:
        papermill.execute_notebook(str(nb.path), str(tmp_path / "out.ipynb"), parameters={"PROFILE": "full"},
                                   kernel_name=kernels.KERNEL_NAME, cwd=str(nb.path.parent), progress_bar=False,
                                   execution_timeout=120, **kernels.kernel_manager_options())
    assert err.value.ename == "CannotRunFull", f"{err.value.ename}: {err.value.evalue}"
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells
    failing = next(c for c in executed if any(o.get("output_type") == "error" for o in c.get("outputs", [])))
    assert "profiles.start(" in failing.source, "the opening cell stops it"
    assert "SmolLM2-135M" in err.value.evalue and "rung cpu-smollm2-135m" in err.value.evalue, (
        "without a GPU it names the model of the CPU rung, not the 7B one")
