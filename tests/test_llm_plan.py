"""Notebook 06a's full profile fits the machine in front of it, and the syllabus plans what its 12 GiB rung runs.

06a takes the largest rung of its ladder (helpers.ladders) that the planner fits in the VRAM free now: the 8B model
at 4-bit with a KV-cache sweep as long as the card allows, Llama-3.2-3B on 6-8 GB, SmolLM2-360M on a CPU. These
tests check the rungs against the planner, the syllabus against the 12 GiB rung, and the notebook's opening cell
against a faked GPU (free VRAM, not the card's size, is the budget).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import tomllib
import torch

from benchmarks import rehearse
from course import notebook_code
from helpers import gpu_specs, ladders, llm, models, planner, ready
from helpers.presets import GIB, preset_names

ROOT = Path(__file__).resolve().parents[1]
NB_ID = "06a-running-an-llm-on-12gb"
LADDER_NOTEBOOKS = ("06a-running-an-llm-on-12gb", "06b-where-the-memory-goes", "07a-lora-and-qlora")


def _entry(nb_id: str) -> dict:
    data = tomllib.loads((ROOT / "course" / "syllabus.toml").read_text(encoding="utf-8"))
    return next(e for e in data["notebooks"] if e["id"] == nb_id)


@pytest.mark.parametrize("nb_id", LADDER_NOTEBOOKS)
def test_the_12_gib_rung_is_the_syllabus_plan_and_fits_a_12_gb_card_beside_a_desktop(nb_id):
    rung = rehearse.twelve_gib_rung(nb_id)
    assert rung is not None and rung.plan == _entry(nb_id)["plan"], "the syllabus `plan` repeats the 12 GiB rung"
    assert rung.need() <= ladders.REFERENCE_FREE_GIB - ladders.MARGIN_GIB
    bigger = [r for r in ladders.ladder(nb_id) if not r.cpu and r.need() > rung.need()]
    assert all(r.need() > 11.5 - ladders.MARGIN_GIB or "12 GB card with nothing else" in r.why for r in bigger), \
        "a larger rung that a 12 GB card could take says so"


@pytest.mark.parametrize("nb_id", LADDER_NOTEBOOKS)
def test_the_syllabus_peak_is_the_12_gib_rungs_planner_total(nb_id):
    full, plan = _entry(nb_id)["full"], _entry(nb_id)["plan"]
    assert full["vram_source"].startswith("planner")
    total = planner.estimate(**plan).total / GIB
    assert full["vram_gb"] >= round(total, 1) - 0.05  # 07a's peak is a larger set-up of section 11
    assert "CUDA context" in full["vram_source"], "a peak says what it counts"


def test_every_06a_rung_plans_the_model_it_loads_and_fits_its_card_class():
    params = notebook_code.parameters(NB_ID)
    for rung in ladders.ladder(NB_ID):
        model = rung.settings.get("model", params["MODEL"])
        assert model in llm.PLANNER_PRESETS, f"{rung.name}: {model} has no planner preset"
        if rung.cpu:
            continue
        assert rung.plan["model"] == llm.PLANNER_PRESETS[model] and rung.plan["seq"] == rung.settings["context"]
        assert planner.estimate(**rung.plan).params > 3e9


def test_on_the_12_gib_rung_the_8_bit_load_fits_and_16_bit_does_not():
    rung = rehearse.twelve_gib_rung(NB_ID)
    budget = ladders.REFERENCE_FREE_GIB + planner.CUDA_CONTEXT_BYTES / GIB - ladders.MARGIN_GIB
    chat = notebook_code.definitions(NB_ID, "CHAT_TOKENS").CHAT_TOKENS
    model = rung.plan["model"]
    assert planner.estimate(model, method="inference", bits=8, seq=chat).total / GIB <= budget
    assert planner.estimate(model, method="inference", bits=16, seq=chat).total / GIB > budget  # section 3 spills
    assert f"hf-model:{notebook_code.parameters(NB_ID)['MODEL']}" in _entry(NB_ID)["downloads"]


@pytest.fixture
def gpu_with_free(monkeypatch):
    """Pretend CUDA device 0 is an RTX 4070 Ti with ``gib`` GiB free (0: no GPU)."""

    def fake(gib: float) -> None:
        total = 11.99 * GIB
        monkeypatch.setattr(torch.cuda, "is_available", lambda: gib > 0)
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (int(gib * GIB), int(total)))
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 9))
        monkeypatch.setattr(torch.cuda, "get_device_properties",
                            lambda device=None: SimpleNamespace(name="NVIDIA GeForce RTX 4070 Ti", total_memory=total,
                                                                major=8, minor=9, multi_processor_count=60))

    return fake


@pytest.mark.parametrize(("free", "rung", "budget"), [(10.5, "8b-4bit-16k", 10.5), (11.5, "8b-4bit-16k", 11.5),
                                                       (7.0, "3b-4bit-16k", 7.0), (0, "cpu-smollm2-360m", 10.5)])
def test_06a_opening_plans_against_the_vram_free_now_not_the_cards_size(free, rung, budget, gpu_with_free,
                                                                         monkeypatch, capsys):
    gpu_with_free(free)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(ready, "download_problem", lambda spec: None)  # what a smaller rung loads is cached here
    tiny = str(models.tiny_model_dir("llama"))  # a local folder: the opening call's download check passes
    ns = notebook_code.opening(NB_ID, 1, PROFILE="full", MODEL=tiny)
    assert ns["RUNG"].name == rung and f"rung {rung}" in capsys.readouterr().out
    assert ns["FREE_GIB"] == pytest.approx(free if free else 10.5)
    assert ns["BUDGET_GIB"] == pytest.approx(budget)  # the planner's totals count the context FREE_GIB excludes
    assert ns["DEV"].type == ("cpu" if ns["RUNG"].cpu else "cuda") and ns["CPU_RUNG"] is ns["RUNG"].cpu
    expected = ns["RUNG"].settings.get("model", tiny)
    assert ns["SOURCE"] == expected and ns["CFG"]["context"] == ns["RUNG"].settings["context"]


def test_every_model_the_notebook_names_has_a_planner_architecture():
    for repo, preset in llm.PLANNER_PRESETS.items():
        assert preset in preset_names(), repo
    assert llm.PLANNER_PRESETS["unsloth/Llama-3.1-8B-Instruct"] == llm.PLANNER_PRESETS["meta-llama/Llama-3.1-8B-Instruct"]
    instruct, base = (replace(planner.load_arch(n), name="", source="") for n in ("llama-3.1-8b-instruct", "llama-3.1-8b"))
    assert instruct == base  # an instruct model has the layers of its base model


def test_a_local_model_folder_is_planned_from_its_own_config(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    assert llm.planner_model(tmp_path) == str(tmp_path)


def test_the_roofline_reads_untied_embeddings_once_a_row_and_tied_ones_as_the_head():
    untied, tied = planner.load_arch("llama-3.1-8b"), planner.load_arch("llama-3.2-3b")
    emb = untied.params_by_kind()["embedding"] * 2
    assert llm.bytes_per_token(untied, 16) == untied.params * 2 - emb
    assert llm.bytes_per_token(tied, 16) == tied.params * 2
    assert llm.bytes_per_token(untied, 4, context=1000) - llm.bytes_per_token(untied, 4) == \
        planner.kv_cache_bytes(untied, 1, 1000)


def test_memory_bandwidth_comes_from_the_published_table_and_unknown_cards_get_none():
    assert gpu_specs.memory_bandwidth_gbs("NVIDIA GeForce RTX 4070 Ti") == 504.0
    assert gpu_specs.memory_bandwidth_gbs("NVIDIA GeForce RTX 4060") == 272.0
    assert gpu_specs.memory_bandwidth_gbs("NVIDIA GeForce RTX 3060", vram_gib=7.7) == 240.0
    assert gpu_specs.memory_bandwidth_gbs("Some Future GPU") is None


def test_a_loaded_model_counts_as_alive_until_it_is_deleted():
    before = len(llm.live_models())
    model = models.tiny_llama(vocab_size=64)
    assert len(llm.live_models()) == before + 1 and any(m is model for m in llm.live_models())
    del model
    assert len(llm.live_models()) == before
