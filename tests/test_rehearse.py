"""``python -m benchmarks.rehearse``: every GPU notebook covered, its code path on the CPU, honest verdicts."""

from __future__ import annotations

import json

import pytest
import torch

from benchmarks import rehearse
from course.syllabus import load


def _has_gpu_rungs(nb_id: str) -> bool:
    from helpers import ladders

    try:
        return any(not r.cpu for r in ladders.ladder(nb_id))
    except KeyError:
        return False


def test_list_covers_every_notebook_that_can_use_a_gpu_with_its_12_gib_rung(capsys):
    gpu = [nb.id for nb in load().notebooks if {"gpu", "cuda-only"} & set(nb.needs) or _has_gpu_rungs(nb.id)]
    assert rehearse.main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == gpu
    for nb_id in ("06a-running-an-llm-on-12gb", "06b-where-the-memory-goes", "07a-lora-and-qlora"):
        line = next(line for line in lines if line.startswith(nb_id))
        assert f"12 GiB rung: {rehearse.twelve_gib_rung(nb_id).name}" in line  # their needs no longer say "gpu"
    missing = {e["id"] for e in rehearse.gpu_notebooks() if e["id"] not in rehearse.STEPS and "plan" not in e
               and rehearse.twelve_gib_rung(e["id"]) is None}
    assert not missing & {"06a-running-an-llm-on-12gb", "06b-where-the-memory-goes", "07a-lora-and-qlora"}


def test_selectors_pick_by_id_prefix_week_and_extras():
    entries = rehearse.gpu_notebooks()
    assert [e["id"] for e in rehearse.select(entries, ["06b"])] == ["06b-where-the-memory-goes"]
    assert {e["id"][:3] for e in rehearse.select(entries, ["8"])} == {"08a", "08b"}
    assert all(str(e["week"]) == "extras" for e in rehearse.select(entries, ["extras"]))


@pytest.mark.parametrize("selector", ["04b", "06b"])
def test_the_step_runs_on_the_cpu_with_a_tiny_replica(selector, tmp_path):
    out = tmp_path / "rehearse.json"
    assert rehearse.main(["--notebooks", selector, "--device", "cpu", "--tiny", "--json", "--out", str(out)]) == 0
    (row,) = json.loads(out.read_text())["notebooks"]
    assert row["status"] == "ok" and row["step"] and row["syllabus_gb"] is not None


def test_llm_notebooks_take_their_configuration_from_the_syllabus_plan():
    entry = next(e for e in rehearse.gpu_notebooks() if e["id"].startswith("06b"))
    _, planned, what = rehearse.llm_step(entry["plan"], "cpu", tiny=False)
    from helpers import planner

    est = planner.estimate(**entry["plan"])
    assert planned == est.total - est.components["overhead"] and entry["plan"]["model"] in what


def test_a_ladder_notebook_is_rehearsed_at_the_rung_a_12_gb_card_beside_a_desktop_takes(tmp_path):
    from helpers import ladders

    rung = rehearse.twelve_gib_rung("07a")
    assert rung is ladders.choose("07a", rehearse.TWELVE_GIB_FREE)[0] and not rung.cpu
    out = tmp_path / "rehearse.json"
    assert rehearse.main(["--notebooks", "07a", "--device", "cpu", "--tiny", "--json", "--out", str(out)]) == 0
    (row,) = json.loads(out.read_text())["notebooks"]
    assert row["rung"] == rung.name and row["status"] == "ok"


def test_verdicts_tolerance_and_out_of_memory():
    row = {"status": "ok", "planner_bytes": 8 * 2**30, "syllabus_gb": 9, "peak_allocated": int(8.4 * 2**30)}
    assert rehearse.judge(row)["agrees"] is True
    assert rehearse.judge(row | {"peak_allocated": 10 * 2**30})["agrees"] is False
    assert rehearse.judge(row | {"planner_bytes": None, "peak_allocated": int(9.2e9)})["agrees"] is True
    oom = rehearse.judge(row | {"status": "oom"})
    assert oom["agrees"] is False and "should fit" in oom["verdict"]
    assert rehearse.judge(row | {"status": "oom", "planner_bytes": 13 * 2**30})["agrees"] is True


def test_without_cuda_it_says_so_and_exits_0(capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the rehearsal would really run")
    assert rehearse.main(["--notebooks", "06b"]) == 0
    assert "needs a CUDA GPU" in capsys.readouterr().out


def test_it_imports_nothing_the_course_pins_beyond_the_gpu_stack():
    import subprocess
    import sys

    code = ("import sys, benchmarks.rehearse as r; r.main(['--list']); "
            "bad = {'jupyter_client', 'papermill', 'nbformat', 'ipykernel', 'matplotlib', 'pandas', 'tqdm', 'course',"
            " 'torch'} & {m.split('.')[0] for m in sys.modules}; print(sorted(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
