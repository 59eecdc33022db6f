"""``python -m benchmarks.rehearse``: every GPU notebook covered, its code path on the CPU, honest verdicts."""

from __future__ import annotations

import json

import pytest
import torch

from benchmarks import rehearse
from benchmarks import rehearse_steps_more as more
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
    assert not [line for line in lines if "NO STEP" in line]


def test_every_gpu_notebook_has_a_step_to_rehearse():
    """A new GPU notebook (needs "gpu", or a ladder with GPU rungs) fails here until it has a step or a rung plan."""
    gpu = {nb.id for nb in load().notebooks if {"gpu", "cuda-only"} & set(nb.needs) or _has_gpu_rungs(nb.id)}
    entries = {e["id"]: e for e in rehearse.gpu_notebooks()}
    assert set(entries) == gpu
    missing = sorted(nb_id for nb_id in gpu if rehearse.step_for(entries[nb_id]) is None)
    assert not missing, f"no rehearsal step for {missing}: add one to benchmarks/rehearse_steps*.py (STEPS)"
    for nb_id in gpu:  # a ladder notebook is rehearsed at its 12 GiB rung: by its plan, or by a step that reads it
        rung = rehearse.twelve_gib_rung(nb_id)
        assert rung is None or rung.plan is not None or nb_id in rehearse.STEPS, nb_id


# Every notebook's step, tiny, on the CPU, through the harness (all together about 20 s: diffusers, transformers).
@pytest.mark.slow
@pytest.mark.parametrize("nb_id", [e["id"] for e in rehearse.gpu_notebooks()])
def test_each_notebooks_step_runs_tiny_on_the_cpu(nb_id):
    (entry,) = [e for e in rehearse.gpu_notebooks() if e["id"] == nb_id]
    row = rehearse.rehearse_one(entry, "cpu", tiny=True)
    assert row["status"] == "ok" and row["step"], row
    assert row["planner_bytes"] is None or row["planner_bytes"] > 0


def test_the_steps_use_the_notebooks_full_profile_sizes():
    """The sizes the steps hard-code are the ones the notebooks' full profiles set (read from their cells)."""
    for nb, values in (("04c", more.NB_04C), ("04d", more.NB_04D), ("05c", more.NB_05C)):
        for name, value in values.items():
            got = more.notebook_value(nb, name)
            assert (got if not isinstance(value, dict) else {k: got[k] for k in value}) == value, (nb, name)
    assert more.notebook_value("05b", "CFG")["batch"] == 64  # 05b's step reads its CFG from the notebook itself
    _, planned, what = more.step_05b("cuda", tiny=False)
    assert planned is None and "batch 64 x 256" in what and "dim 384" in what


def test_the_diffusion_steps_run_their_notebooks_12_gib_rung():
    _, _, what = rehearse.STEPS["08a-text-to-image"]("cuda", tiny=False)
    assert "512 px, batch 8" in what and "sd15-512-batch8" in what and "decoded at once" in what
    _, _, what = rehearse.STEPS["08b-teach-it-a-style"]("cuda", tiny=False)
    assert "512 px, batch 4, checkpointing off" in what and "512px-batch4" in what


def test_a_rung_with_a_measured_rule_is_judged_against_it():
    row = {"status": "ok", "planner_bytes": None, "syllabus_gb": 6.8, "rung_need_gib": 6.79,
           "peak_allocated": int(6.5 * 2**30)}
    verdict = rehearse.judge(row)
    assert verdict["agrees"] is True and "need_gib" in verdict["verdict"]
    assert rehearse.judge(row | {"peak_allocated": 4 * 2**30})["agrees"] is False


def test_the_detector_is_frozen_as_its_pretrained_weights_leave_it():
    """04d loads COCO weights: torchvision then freezes BatchNorm and the first backbone stages; the replica too."""
    from torchvision.models import mobilenet_v3_large
    from torchvision.models.detection.backbone_utils import _mobilenet_extractor
    from torchvision.ops import FrozenBatchNorm2d

    torchvisions = _mobilenet_extractor(mobilenet_v3_large(norm_layer=FrozenBatchNorm2d), True, 3)
    ours = more.detector_04d(tiny=False).backbone
    trainable = lambda m: {n for n, p in m.named_parameters() if p.requires_grad}  # noqa: E731
    assert trainable(ours) == trainable(torchvisions) and 0 < len(trainable(ours)) < len(dict(ours.named_parameters()))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in ours.modules())


def test_the_t5_replica_has_flan_t5_bases_parameters():
    net = more.flan_t5(tiny=False, device="meta")
    assert sum(p.numel() for p in net.parameters()) == 247_577_856  # google/flan-t5-base, lm_head untied
    assert net.lm_head.weight is not net.shared.weight


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
    assert rung is ladders.choose("07a", ladders.REFERENCE_FREE_GIB)[0] and not rung.cpu
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
