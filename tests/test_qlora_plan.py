"""Week 7 (07a): each rung fits its card by the planner (the 12 GiB rung is the syllabus plan), one model at a time."""

from __future__ import annotations

import ast

import pytest
import torch

from benchmarks import rehearse
from course import notebook_code
from course.exercises import week07
from course.syllabus import REPO_ROOT, SYLLABUS_PATH, load
from helpers import finetune as ft
from helpers import ladders, llm, planner, ready
from helpers.presets import GIB, preset_config

NB_ID = "07a-lora-and-qlora"
# The notebook's OPTIMIZER names bitsandbytes' optimizers; the planner names their memory.
PLANNER_OPTIMIZER = {"adamw": "adamw", "adamw_8bit": "adamw8bit", "paged_adamw_8bit": "adamw8bit"}


def _plan() -> dict:
    import tomllib

    data = tomllib.loads(SYLLABUS_PATH.read_text(encoding="utf-8"))
    return next(e for e in data["notebooks"] if e["id"] == NB_ID)["plan"]


def _cells(kind: str = "code") -> list:
    return [c for c in notebook_code.cells(NB_ID) if c.cell_type == kind]


def test_the_parameters_and_the_12_gib_rung_equal_the_syllabus_plan():
    params, plan, rung = notebook_code.parameters(NB_ID), _plan(), rehearse.twelve_gib_rung(NB_ID)
    assert params["PROFILE"] == "auto" and params["RUNG_PIN"] is None
    assert {"method": "qlora", "bits": 4} == {k: plan[k] for k in ("method", "bits")} and params["QUANT"] == "4bit"
    assert rung.plan == plan and "model" not in rung.settings  # the 12 GiB rung trains BASE_MODEL
    assert (rung.settings["batch"], rung.settings["max_len"], params["LORA_R"]) == (plan["batch"], plan["seq"],
                                                                                    plan["lora_rank"])
    assert params["GRADIENT_CHECKPOINTING"] is plan["checkpointing"]
    assert PLANNER_OPTIMIZER[params["OPTIMIZER"]] == plan["optimizer"]
    assert f"hf-model:{params['BASE_MODEL']}" in load().by_id(NB_ID).downloads
    assert params["BASE_MODEL"] in preset_config(plan["model"])["_published_source"]  # the preset is that model


def test_every_rung_trains_16_examples_a_step_on_the_model_it_plans():
    params = notebook_code.parameters(NB_ID)
    for rung in ladders.ladder(NB_ID):
        s = rung.settings
        model = s.get("model", params["BASE_MODEL"])
        assert model in llm.PLANNER_PRESETS, f"{rung.name}: {model} has no planner preset"
        if rung.cpu:
            assert s["quant"] is None and s["checkpointing"] is False  # LoRA on the fp32 weights
            continue
        assert s["batch"] * s["grad_accum"] == 16, rung.name
        assert rung.plan["model"] == llm.PLANNER_PRESETS[model]
        assert (rung.plan["batch"], rung.plan["seq"]) == (s["batch"], s["max_len"])


def test_the_syllabus_peak_is_the_planners_largest_set_up_that_fits():
    plan, spec = _plan(), load().by_id(NB_ID).full
    budget = ladders.REFERENCE_FREE_GIB + planner.CUDA_CONTEXT_BYTES / GIB - ladders.MARGIN_GIB  # the notebook's BUDGET_GIB
    setups = [dict(plan, checkpointing=ckpt, optimizer=opt)
              for ckpt, opt in ((False, "adamw"), (True, "adamw"), (True, plan["optimizer"]))]
    totals = [planner.estimate(**s).total / GIB for s in setups]
    assert totals[0] > budget  # without checkpointing it does not fit: the notebook prints the verdict instead
    assert spec.vram_gb == pytest.approx(max(t for t in totals if t <= budget), abs=0.05)
    assert spec.vram_source.startswith("planner")


@pytest.mark.parametrize(("free", "rung", "quant"), [(10.5, "mistral-7b-2x1024", "4bit"), (0, "cpu-smollm2-135m", None)])
def test_07a_opening_takes_the_rung_for_the_vram_free_now(free, rung, quant, monkeypatch, tmp_path):
    from types import SimpleNamespace

    from helpers import models

    monkeypatch.setattr(torch.cuda, "is_available", lambda: free > 0)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (int(free * GIB), int(11.99 * GIB)))
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 9))
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=None: SimpleNamespace(
        name="NVIDIA GeForce RTX 4070 Ti", total_memory=int(11.99 * GIB), major=8, minor=9, multi_processor_count=60))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(ready, "download_problem", lambda spec: None)  # what a smaller rung loads is cached here
    ns = notebook_code.opening(NB_ID, 1, PROFILE="full", BASE_MODEL=str(models.tiny_model_dir("llama")),
                               DATASET=str(tmp_path))  # local folders: the download checks pass
    s = ns["RUNG"].settings
    assert ns["RUNG"].name == rung and ns["QUANT"] == quant and ns["DEV"].type == ns["RUNG"].device
    assert (ns["CFG"]["batch"], ns["CFG"]["max_len"], ns["CFG"]["accum"]) == (s["batch"], s["max_len"], s["grad_accum"])
    assert ns["BASE"] == s.get("model", str(models.tiny_model_dir("llama")))


def test_every_model_load_of_the_notebook_goes_through_load_alone():
    calls = []
    for cell in _cells():
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
                calls.append(f"{owner}.{node.func.attr}")
    assert calls.count("ft.load_alone") >= 5
    assert "llm.load_causal_lm" not in calls
    assert not [c for c in calls if c.startswith("AutoModel") and c.endswith("from_pretrained")]


def test_the_peft_calls_and_one_training_step_come_before_the_helper_loop():
    seen: list[str] = []  # "owner.name" of every call, in notebook order
    for cell in _cells():
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Attribute):
                    owner = func.value.id if isinstance(func.value, ast.Name) else "?"
                    seen.append(f"{owner}.{func.attr}")
                elif isinstance(func, ast.Name):
                    seen.append(func.id)
    before_loop = seen[: seen.index("ft.train")]  # the helper with the progress bar
    for call in ("LoraConfig", "prepare_model_for_kbit_training", "get_peft_model", "model", "?.backward",
                 "optimizer.step", "optimizer.zero_grad"):
        assert call in before_loop, f"{call} is not in a learner's cell before ft.train"


@pytest.mark.slow
def test_a_second_model_is_refused_while_the_first_is_alive_and_allowed_once_freed():
    from helpers import models
    from helpers.vram import free_cached

    folder = models.tiny_model_dir("llama")
    free_cached()
    already = llm.live_models()  # a model another test of this worker still holds counts too
    if already:
        with pytest.raises(RuntimeError, match="still alive"):
            ft.load_alone(folder)
        return
    first, _ = ft.load_alone(folder)
    wrapped = [first]  # any reference keeps it alive, as a peft model or a trainer would
    del first
    with pytest.raises(RuntimeError, match="still alive"):
        ft.load_alone(folder)
    del wrapped
    free_cached()
    second, _ = ft.load_alone(folder)
    assert len(llm.live_models()) == 1
    del second
    assert llm.live_models() == []


def test_heldout_loss_weights_every_answer_token_equally():
    from helpers import models

    model, tok = models.build_tiny("llama")
    short = ft.tokenize_pair(tok, "hi", "yes")
    long = ft.tokenize_pair(tok, "hi", "a much longer answer with many more tokens in it")
    per_example = [ft.heldout_loss(model, [e], tok.pad_token_id) for e in (short, long)]
    n = [sum(lab != ft.IGNORE_INDEX for lab in e["labels"][1:]) for e in (short, long)]
    both = ft.heldout_loss(model, [short, long], tok.pad_token_id, batch_size=2)
    assert both == pytest.approx((per_example[0] * n[0] + per_example[1] * n[1]) / sum(n), rel=1e-4)


def test_trl_is_pinned_in_pyproject_and_constraints():
    import tomllib

    deps = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.replace(" ", "").startswith("trl>=") for d in deps)
    assert any(line.startswith("trl==") for line in (REPO_ROOT / "constraints.txt").read_text().splitlines())


# The exercises' registered mistakes and other styles: tests/test_exercise_answers.py runs them all.

def test_untouched_stubs_are_not_answered_yet(capsys):
    from torch import nn

    def mask_prompt(input_ids, prompt_lengths):
        raise NotImplementedError

    class LoRALinear(nn.Module):
        def __init__(self, base, r, alpha):
            super().__init__()
            raise NotImplementedError

    assert not week07.q1.check(mask_prompt) and not week07.q5.check(LoRALinear)
    assert capsys.readouterr().out.count("not answered yet") == 2
