"""Week 7 (07a): the full profile fits 12 GB by the planner, one model at a time, and its exercises catch mistakes."""

from __future__ import annotations

import ast

import pytest
import torch

from course import notebook_code
from course.exercises import week07
from course.syllabus import REPO_ROOT, SYLLABUS_PATH, load
from helpers import finetune as ft
from helpers import llm, planner
from helpers.presets import GIB, gpu_vram_gib, preset_config

NB_ID = "07a-lora-and-qlora"
# The notebook's OPTIMIZER names bitsandbytes' optimizers; the planner names their memory.
PLANNER_OPTIMIZER = {"adamw": "adamw", "adamw_8bit": "adamw8bit", "paged_adamw_8bit": "adamw8bit"}


def _plan() -> dict:
    import tomllib

    data = tomllib.loads(SYLLABUS_PATH.read_text(encoding="utf-8"))
    return next(e for e in data["notebooks"] if e["id"] == NB_ID)["plan"]


def _cells(kind: str = "code") -> list:
    return [c for c in notebook_code.cells(NB_ID) if c.cell_type == kind]


def test_the_full_parameters_equal_the_syllabus_plan():
    params, plan = notebook_code.parameters(NB_ID), _plan()
    assert params["PROFILE"] == "auto"
    assert {"method": "qlora", "bits": 4} == {k: plan[k] for k in ("method", "bits")} and params["QUANT"] == "4bit"
    assert (params["BATCH"], params["MAX_LEN"], params["LORA_R"]) == (plan["batch"], plan["seq"], plan["lora_rank"])
    assert params["GRADIENT_CHECKPOINTING"] is plan["checkpointing"]
    assert PLANNER_OPTIMIZER[params["OPTIMIZER"]] == plan["optimizer"]
    assert f"hf-model:{params['BASE_MODEL']}" in load().by_id(NB_ID).downloads
    assert params["BASE_MODEL"] in preset_config(plan["model"])["_published_source"]  # the preset is that model


def test_the_planner_says_the_full_run_fits_the_rtx_4070_ti_with_a_gib_to_spare():
    _, card = gpu_vram_gib("rtx4070ti")
    est = planner.estimate(**_plan())
    assert est.seq >= 1024 and est.total <= (card - 1) * GIB, est.table()


def test_the_syllabus_peak_is_the_planners_largest_set_up_that_fits():
    plan, spec = _plan(), load().by_id(NB_ID).full
    setups = [dict(plan, checkpointing=ckpt, optimizer=opt)
              for ckpt, opt in ((False, "adamw"), (True, "adamw"), (True, plan["optimizer"]))]
    totals = [planner.estimate(**s).total / GIB for s in setups]
    assert totals[0] > 12  # without checkpointing it does not fit: the notebook prints the verdict instead
    assert spec.vram_gb == pytest.approx(max(t for t in totals if t <= 12), abs=0.05)
    assert spec.vram_source.startswith("planner:")


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


# The exercises: references pass, typical wrong implementations get the message meant for them.

def _mask_in_place(input_ids, prompt_lengths):
    for i, n in enumerate(prompt_lengths):
        input_ids[i, :n] = -100
    return input_ids


def _mask_answer(input_ids, prompt_lengths):
    labels = input_ids.clone()
    for i, n in enumerate(prompt_lengths):
        labels[i, n:] = -100
    return labels


def _mask_with_zero(input_ids, prompt_lengths):
    labels = input_ids.clone()
    for i, n in enumerate(prompt_lengths):
        labels[i, :n] = 0
    return labels


def _one_length_for_all(input_ids, prompt_lengths):
    labels = input_ids.clone()
    labels[:, : prompt_lengths[0]] = -100
    return labels


@pytest.mark.parametrize(("wrong", "message"), [
    (_mask_answer, "you masked the answer instead of the prompt"),
    (_mask_with_zero, "0 is a real token id"),
    (_one_length_for_all, "every row has its own prompt length"),
    (_mask_in_place, "changed its argument 1 in place"),
])
def test_prompt_masking_mistakes_are_named(wrong, message, capsys):
    assert not week07.q1.check(wrong)
    assert message in capsys.readouterr().out


def _lora(scaling=lambda alpha, r: alpha / r, b_init=torch.zeros, a_init=torch.randn, freeze=True):
    from torch import nn

    class Wrong(nn.Module):
        def __init__(self, base, r, alpha):
            super().__init__()
            self.base = base.requires_grad_(not freeze)
            self.A = nn.Parameter(a_init(r, base.in_features))
            self.B = nn.Parameter(b_init(base.out_features, r))
            self.scaling = scaling(alpha, r)

        def forward(self, x):
            return self.base(x) + self.scaling * (x @ self.A.T @ self.B.T)

    return Wrong


@pytest.mark.parametrize(("wrong", "message"), [
    (_lora(scaling=lambda alpha, r: 1.0), "the scaling alpha/r is missing"),
    (_lora(scaling=lambda alpha, r: alpha), "scaled by alpha; it should be alpha / r"),
    (_lora(b_init=torch.randn), "B is not zero at the start, so training does not start from the base model"),
    (_lora(a_init=torch.zeros), "A is zero too"),
    (_lora(freeze=False), "the base layer still requires gradients"),
])
def test_lora_layer_mistakes_are_named(wrong, message, capsys):
    assert not week07.q5.check(wrong)
    assert message in capsys.readouterr().out


@pytest.mark.parametrize("name", ["q1", "q2", "q3", "q4", "q5"])
def test_every_reference_passes_and_every_objective_is_the_notebooks(name, capsys):
    exercise = getattr(week07, name)
    assert exercise.check(exercise.solve()) and exercise.objective in load().by_id(NB_ID).objectives
    exercise.solution()
    assert "reference solution" in capsys.readouterr().out


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
