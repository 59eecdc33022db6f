"""``python -m course plan``: a clear breakdown and verdict; one-line refusals with exit 2."""

from __future__ import annotations

import json

import pytest

COMPONENTS = {"weights", "kv_cache", "activations", "gradients", "optimizer", "overhead"}


def test_qlora_on_llama3_8b_for_a_4070ti_prints_breakdown_and_verdict(cli):
    res = cli("plan", "llama-3-8b", "--method", "qlora", "--gpu", "rtx4070ti")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert all(name in out for name in COMPONENTS) and "total" in out
    assert "Verdict: fits in RTX 4070 Ti" in out and "Largest batch" in out
    assert "config: https://huggingface.co/meta-llama/Meta-Llama-3-8B" in out


def test_json_has_params_components_total_vram_and_fits(cli):
    res = cli("plan", "llama-2-7b", "--bits", "16", "--vram", "12", "--json")
    data = json.loads(res.stdout)
    assert data["params"] == 6_738_415_616 and set(data["components"]) == COMPONENTS
    assert data["total_bytes"] == sum(data["components"].values()) and data["vram_bytes"] == 12 * 2**30
    assert data["fits"] is False and data["suggestions"]


def test_a_plan_that_does_not_fit_suggests_changes_that_were_checked(cli):
    out = cli("plan", "llama-3-8b", "--method", "full", "--batch", "4").stdout
    assert "does NOT fit" in out and "--method qlora" in out and "gradient-accumulation" in out
    assert "--checkpointing" in out and "smaller model" in out and "GiB (" in out


@pytest.mark.parametrize("args", [["--list"], ["list"]])
def test_list_shows_presets_with_sources_and_gpu_names(cli, args):
    out = cli("plan", *args).stdout
    assert "llama-3.2-1b" in out and "sdxl-unet" in out and "rtx4070ti (12 GiB)" in out and "huggingface.co" in out


def test_a_config_json_path_works_like_a_preset(cli, tmp_path):
    from helpers.presets import preset_config

    (tmp_path / "config.json").write_text(json.dumps(preset_config("smollm2-135m")))
    data = json.loads(cli("plan", str(tmp_path / "config.json"), "--json").stdout)
    assert data["params"] == 134_515_008


@pytest.mark.parametrize("args, words", [
    (["nope-7b"], ["Presets:", "or pass a path to a config.json"]),
    ([], ["give a MODEL"]),
    (["gpt2", "--bits", "5"], ["bits must be one of 32, 16, 8, 4"]),
    (["gpt2", "--batch", "-1"], ["batch must be a whole number"]),
    (["gpt2", "--seq", "0"], ["seq must be a whole number"]),
    (["gpt2", "--gpu", "rtx9999"], ["Unknown GPU", "rtx4070ti"]),
    (["gpt2", "--vram", "-3"], ["--vram"]),
    (["gpt2", "--method", "full", "--bits", "4"], ["qlora"]),
])
def test_bad_input_is_refused_in_one_line_with_exit_2(cli, args, words):
    res = cli("plan", *args)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and all(w in res.stderr for w in words)


def test_config_missing_a_field_is_named_in_the_error(cli, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 64}))
    res = cli("plan", str(tmp_path / "config.json"))
    assert res.returncode == 2 and "'num_attention_heads'" in res.stderr


def test_full_finetune_is_planned_in_mixed_precision_unless_pure_is_asked_for(cli):
    mixed = json.loads(cli("plan", "llama-3.2-1b", "--method", "full", "--json").stdout)
    pure = json.loads(cli("plan", "llama-3.2-1b", "--method", "full", "--precision", "pure", "--json").stdout)
    assert mixed["knobs"]["precision"] == "mixed" and pure["knobs"]["precision"] == "pure"
    state = {k: sum(d["components"][c] for c in ("weights", "gradients", "optimizer")) / d["params"]
             for k, d in (("mixed", mixed), ("pure", pure))}
    assert state == {"mixed": 16, "pure": 8}
    out = cli("plan", "llama-3.2-1b", "--method", "full").stdout
    assert "mixed precision (fp32 master weights)" in out and "--precision pure" in out
    res = cli("plan", "gpt2", "--method", "full", "--precision", "half")
    assert res.returncode == 2 and "precision must be one of mixed, pure" in res.stderr
