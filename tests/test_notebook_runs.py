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
import time
from pathlib import Path

import nbformat
import pytest

from course import runner
from course import syllabus as syl
from helpers.profile import is_measurement

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


# Notebooks with a `fallback` in the syllabus (weeks 1-2) run offline on data that ships with the course
# or scikit-learn and say so; every other downloader must stop.
DOWNLOADERS = [nb for nb in COURSE.notebooks if nb.downloads and not nb.fallback]


def _first_code_cells(path: Path, after_parameters: int) -> int:
    """Index (among all cells) of the last cell allowed to stop a full run: a few after the parameters."""
    cells = nbformat.read(path, as_version=4).cells
    params = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    code_after = [i for i, c in enumerate(cells) if c.cell_type == "code" and i > params]
    return code_after[min(after_parameters, len(code_after)) - 1]


@pytest.mark.notebooks
@pytest.mark.parametrize("nb", DOWNLOADERS, ids=[nb.id for nb in DOWNLOADERS])
def test_offline_full_profile_stops_in_the_first_cells_naming_what_is_missing(nb, tmp_path, monkeypatch):
    import papermill
    from papermill.exceptions import PapermillExecutionError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setenv("COURSE_PROFILE", "full")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    monkeypatch.setenv("JUPYTER_PATH", str(runner._kernel_dir()))
    start = time.perf_counter()
    with pytest.raises(PapermillExecutionError) as err:
        papermill.execute_notebook(str(nb.path), str(tmp_path / "out.ipynb"), parameters={"PROFILE": "full"},
                                   kernel_name=runner.KERNEL_NAME, cwd=str(nb.path.parent), progress_bar=False,
                                   execution_timeout=60)
    seconds = time.perf_counter() - start
    print(f"{nb.id}: stopped after {seconds:.1f} s (kernel start included): {err.value.evalue}")
    assert err.value.ename == "CannotRunFull", f"{err.value.ename}: {err.value.evalue}"
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells
    failing = next(i for i, c in enumerate(executed)
                   if c.cell_type == "code" and any(o.get("output_type") == "error" for o in c.get("outputs", [])))
    # papermill adds an injected-parameters cell after the parameters cell, hence the +1
    assert failing <= _first_code_cells(nb.path, after_parameters=2) + 1, "stop in the first cells"
    for download in nb.downloads:
        name = download.split(":", 1)[1]
        assert name.split("/")[-1].lower() in err.value.evalue.lower(), f"the message should name {name}"
