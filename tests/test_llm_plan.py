"""Notebook 06a's full profile (Llama-3.1-8B-Instruct at 4-bit) fits the RTX 4070 Ti, and the syllabus plans what it runs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import tomllib

from course import notebook_code
from helpers import gpu_specs, llm, planner
from helpers.presets import GIB, gpu_vram_gib, preset_names

ROOT = Path(__file__).resolve().parents[1]
NB_ID = "06a-running-an-llm-on-12gb"


@pytest.fixture(scope="module")
def cells():
    """The parameters cell's values, and the notebook's other constants (nothing is run but the assignments)."""
    return notebook_code.parameters(NB_ID), vars(notebook_code.definitions(NB_ID, "CHAT_TOKENS"))


@pytest.fixture(scope="module")
def entry():
    data = tomllib.loads((ROOT / "course" / "syllabus.toml").read_text(encoding="utf-8"))
    return next(e for e in data["notebooks"] if e["id"] == NB_ID)


def test_the_full_default_is_an_8b_model_that_fits_a_4070ti_with_a_gib_to_spare(cells):
    params, others = cells
    preset = llm.PLANNER_PRESETS[params["MODEL"]]
    card = gpu_vram_gib("rtx4070ti")[1]
    assert params["HEADROOM_GIB"] >= 1.0
    heaviest = planner.estimate(preset, method="inference", bits=params["BITS"], batch=params["BATCH"],
                                seq=params["CONTEXT"])
    assert heaviest.params > 7e9
    assert heaviest.total + 1 * GIB <= card * GIB, heaviest
    # the notebook keeps CONTEXT on this card: the planner's longest context is not shorter
    assert planner.max_seq(preset, vram_gib=card - params["HEADROOM_GIB"], method="inference",
                           bits=params["BITS"], batch=params["BATCH"]) >= params["CONTEXT"]
    # the 8-bit load of section 4, at the chat length, fits too; 16-bit does not (section 3 spills it)
    chat = others["CHAT_TOKENS"]
    assert planner.estimate(preset, method="inference", bits=8, seq=chat).total + 1 * GIB <= card * GIB
    assert not planner.estimate(preset, method="inference", bits=16, seq=chat).fits(card)


def test_the_syllabus_plan_is_the_notebooks_full_profile(cells, entry):
    params, _ = cells
    assert entry["plan"] == {"model": llm.PLANNER_PRESETS[params["MODEL"]], "method": "inference",
                             "bits": params["BITS"], "batch": params["BATCH"], "seq": params["CONTEXT"]}
    assert f"hf-model:{params['MODEL']}" in entry["downloads"]
    full = entry["full"]
    assert full["vram_source"].startswith("planner")
    assert full["vram_gb"] == round(planner.estimate(**entry["plan"]).total / GIB, 1)


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
    from helpers import models

    before = len(llm.live_models())
    model = models.tiny_llama(vocab_size=64)
    assert len(llm.live_models()) == before + 1 and any(m is model for m in llm.live_models())
    del model
    assert len(llm.live_models()) == before
