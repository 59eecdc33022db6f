"""The planner against the real thing: parameter counts, KV cache and saved activations, on CPU."""

from __future__ import annotations

import json

import pytest
import torch

from helpers import planner, planner_check
from helpers.presets import GIB, GPUS, preset_config, preset_names

TINY = dict(model_type="llama", hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=256, max_position_embeddings=512)
MEDIUM = dict(model_type="llama", hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=8,
              num_key_value_heads=2, vocab_size=2048, max_position_embeddings=1024)
SIZES = {"tiny": (TINY, 2, 48), "medium": (MEDIUM, 2, 128)}
TRANSFORMERS_PRESETS = [n for n in preset_names() if "_class_name" not in preset_config(n)]


@pytest.mark.parametrize("name", TRANSFORMERS_PRESETS)
def test_param_count_from_config_equals_the_real_model_on_meta(name):
    assert planner.load_arch(name).params == planner_check.meta_params(name)


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_cites_its_source_and_matches_the_published_count(name):
    cfg = preset_config(name)
    assert cfg["_source"].startswith("https://huggingface.co/") and cfg["_published_source"]
    assert planner.load_arch(name).params == pytest.approx(cfg["_published_params"], rel=0.05)


def test_diffusers_component_counts_equal_the_real_unet_and_vae_on_meta():
    from diffusers import AutoencoderKL, UNet2DConditionModel

    for name in ("sd15-unet", "sd15-vae", "sdxl-unet", "sdxl-vae"):
        cfg = preset_config(name)
        cls = UNet2DConditionModel if cfg["_class_name"].startswith("UNet") else AutoencoderKL
        with torch.device("meta"):
            net = cls.from_config({k: v for k, v in cfg.items() if not k.startswith("_")})
        assert sum(p.numel() for p in net.parameters()) == cfg["_params"] == planner.load_arch(name).params


def test_gqa_models_cache_fewer_kv_heads_than_query_heads():
    llama2, llama3 = planner.load_arch("llama-2-7b"), planner.load_arch("llama-3-8b")
    assert planner.kv_cache_bytes(llama2, 1, 4096) == 4 * planner.kv_cache_bytes(llama3, 1, 4096)
    assert planner.kv_cache_bytes(llama3, 1, 8192) == 2 * 32 * 8192 * 8 * 128 * 2  # 1 GiB at 8k tokens


@pytest.mark.parametrize("cfg", [TINY, MEDIUM, dict(MEDIUM, model_type="mistral", sliding_window=64)],
                         ids=["llama-tiny", "llama-medium", "mistral-window"])
def test_kv_cache_estimate_equals_the_cache_tensors_after_a_forward(cfg):
    net = planner_check.build(cfg, device="cpu", dtype=torch.bfloat16)
    ids = torch.randint(0, cfg["vocab_size"], (2, 96))
    with torch.no_grad():
        cache = net(input_ids=ids, use_cache=True).cache
    assert planner_check.kv_cache_bytes(cache) == planner.kv_cache_bytes(planner.load_arch(cfg), 2, 96, 2) > 0


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("checkpointing", [False, True], ids=["no-ckpt", "ckpt"])
def test_full_finetune_saved_activations_within_15_percent_of_measured(size, dtype, checkpointing):
    cfg, batch, seq = SIZES[size]
    measured = planner_check.training_saved_bytes(planner_check.build(cfg, device="cpu", dtype=dtype), batch, seq, checkpointing)
    est = planner.saved_activation_bytes(planner.load_arch(cfg), batch, seq, 4 if dtype == torch.float32 else 2,
                                         checkpointing=checkpointing)
    assert est == pytest.approx(measured, rel=0.15)
    if checkpointing:
        assert est < 0.5 * planner.saved_activation_bytes(planner.load_arch(cfg), batch, seq,
                                                          4 if dtype == torch.float32 else 2)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("targets", ["all-linear", ("q_proj", "v_proj")], ids=["all-linear", "qv"])
def test_lora_saved_activations_within_15_percent_of_measured(size, targets):
    from peft import LoraConfig, get_peft_model

    cfg, batch, seq = SIZES[size]
    net = get_peft_model(planner_check.build(cfg, device="cpu", dtype=torch.bfloat16),
                         LoraConfig(r=8, target_modules=targets if isinstance(targets, str) else list(targets),
                                    lora_dropout=0.0))
    measured = planner_check.training_saved_bytes(net, batch, seq)
    arch = planner.load_arch(cfg)
    est = planner.saved_activation_bytes(arch, batch, seq, 2, True, planner.lora_targets(arch, targets), 8)
    assert est == pytest.approx(measured, rel=0.15)


def test_lora_trainable_count_equals_peft():
    from peft import LoraConfig, get_peft_model

    net = get_peft_model(planner_check.build(MEDIUM, device="meta"), LoraConfig(r=8, target_modules="all-linear"))
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    assert planner.estimate(MEDIUM, method="lora", lora_rank=8).trainable == trainable


def test_four_bit_keeps_embeddings_and_head_in_16_bit():
    arch = planner.load_arch("llama-3-8b")
    kinds = arch.params_by_kind()
    w4 = planner.weight_bytes(arch, 4)
    assert w4 > (kinds["embedding"] + kinds["head"]) * 2 + kinds["linear"] * 0.5
    assert 5.0 * GIB < w4 < 5.6 * GIB  # 1.96 GiB of the 5.4 are the 16-bit embedding and head
    assert planner.weight_bytes(arch, 4, double_quant=False) > w4


def test_breakdown_has_the_six_named_components_and_a_total():
    est = planner.estimate("llama-3-8b", method="qlora")
    assert tuple(est.components) == planner.COMPONENTS
    assert est.total == sum(est.components.values()) and est.trainable > 0
    assert "weights" in est.table() and "<table>" in est._repr_html_()
    small, large = (json.loads(json.dumps(est.to_dict(gib))) for gib in (est.total / GIB / 2, est.total / GIB * 2))
    assert (small["fits"], large["fits"]) == (False, True) and large["total_bytes"] == est.total


def test_inference_has_a_kv_cache_and_training_has_gradients_and_optimizer():
    inf = planner.estimate("llama-3.2-1b", method="inference", seq=1024)
    full = planner.estimate("llama-3.2-1b", method="full", seq=1024)
    assert inf.components["kv_cache"] > 0 and inf.components["gradients"] == inf.components["optimizer"] == 0
    assert full.components["kv_cache"] == 0 and full.components["optimizer"] == 2 * full.components["gradients"]
    eight = planner.estimate("llama-3.2-1b", method="full", seq=1024, optimizer="adamw8bit")
    assert eight.components["optimizer"] < full.components["optimizer"] / 1.9


def test_checkpointing_shrinks_activations_and_qlora_turns_it_on_by_default():
    off = planner.estimate("llama-3-8b", method="qlora", checkpointing=False)
    on = planner.estimate("llama-3-8b", method="qlora")
    assert on.knobs["checkpointing"] and on.components["activations"] < off.components["activations"] / 3


def test_largest_batch_and_sequence_fit_and_one_more_does_not():
    kw = dict(method="qlora", seq=512)
    n = planner.max_batch("llama-3-8b", 12, **kw)
    assert n >= 1 and planner.estimate("llama-3-8b", batch=n, **kw).fits(12)
    assert not planner.estimate("llama-3-8b", batch=n + 1, **kw).fits(12)
    s = planner.max_seq("llama-3-8b", 12, method="inference", bits=4)
    assert 0 < s <= 8192


def test_seventy_b_at_4_bit_needs_more_than_30_gib_of_weights_alone():
    assert planner.estimate("llama-2-70b", bits=4).components["weights"] > 30 * GIB
    assert planner.max_seq("llama-2-70b", 12, bits=4) == 0


@pytest.mark.parametrize("kwargs, word", [
    ({"bits": 5}, "bits"), ({"batch": -1}, "batch"), ({"batch": 0}, "batch"), ({"method": "train"}, "method"),
    ({"method": "full", "bits": 4}, "qlora"), ({"method": "qlora", "bits": 16}, "lora"), ({"seq": 0}, "seq"),
    ({"optimizer": "adam"}, "optimizer"),
])
def test_nonsense_values_are_refused_with_a_message_naming_them(kwargs, word):
    with pytest.raises(ValueError, match=word):
        planner.estimate("gpt2", **kwargs)


def test_unknown_model_lists_presets_and_mentions_config_json():
    with pytest.raises(ValueError, match="or pass a path to a config.json") as err:
        planner.load_arch("llama-9-99b")
    assert "llama-3-8b" in str(err.value)


def test_config_missing_a_field_names_it(tmp_path):
    cfg = {k: v for k, v in TINY.items() if k != "intermediate_size"}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="'intermediate_size'"):
        planner.estimate(str(tmp_path / "config.json"))
    with pytest.raises(ValueError, match="model_type"):
        planner.load_arch({"hidden_size": 8})


def test_gpu_table_has_the_cards_the_course_names():
    assert {"rtx4060-8gb", "rtx4070ti", "rtx4070ti-super", "rtx4090", "t4", "a100-40gb", "a100-80gb", "h100",
            "h200"} <= set(GPUS)
    assert GPUS["rtx4070ti"][1] == 12 and GPUS["t4"][1] == 16


@pytest.mark.parametrize("method, bits", [("inference", 16), ("qlora", 4)])
def test_rehearsal_code_path_runs_on_cpu_with_a_tiny_replica(method, bits):
    row = planner_check.rehearse(dict(TINY), method=method, bits=bits, batch=1, seq=32, device="cpu")
    assert row["status"] == "ok" and row["estimate_tensors_bytes"] > 0 and row["measured_bytes"] is not None
    assert set(row["components"]) == set(planner.COMPONENTS)


@pytest.mark.parametrize(("free", "reserved", "card", "cap"), [
    (10.5, 0.0, None, 10.0),  # a 12 GB card beside a desktop: what is free now, less the ladders' 0.5 GiB
    (10.5, 0.0, 12, 10.0),  # the same card asked to act as itself: the free memory is the smaller limit
    (22.5, 1.0, None, 23.0),  # a 24 GB card: PyTorch's own reserve counts as its to use
    (22.5, 0.0, 12, 11.0),  # a 24 GB card acting as a 12 GB one: 12 less its 0.5 GiB of context, less the margin
])
def test_the_rehearsal_cap_is_the_free_vram_less_the_margin(free, reserved, card, cap, monkeypatch):
    """06b's cap counts what the desktop holds and leaves the CUDA context outside (issue 23), never the card's size."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (int(free * GIB), int(23.99 * GIB)))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: int(reserved * GIB))
    assert planner_check.rehearsal_cap_gib(card) == pytest.approx(cap)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert planner_check.rehearsal_cap_gib(card) is None


def test_qlora_saved_activations_are_fp32_after_prepare_for_kbit_training(tmp_path):
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    planner_check.build(MEDIUM, device="cpu", dtype=torch.bfloat16).save_pretrained(tmp_path)
    qconf = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=torch.bfloat16)
    net = AutoModelForCausalLM.from_pretrained(tmp_path, quantization_config=qconf, dtype=torch.bfloat16,
                                               device_map={"": "cpu"})
    net = prepare_model_for_kbit_training(net, use_gradient_checkpointing=False)  # norms and head to fp32
    net = get_peft_model(net, LoraConfig(r=8, target_modules="all-linear", lora_dropout=0.0))
    measured = planner_check.training_saved_bytes(net, 2, 128)
    arch = planner.load_arch(MEDIUM)
    est = planner.estimate(MEDIUM, method="qlora", batch=2, seq=128, lora_rank=8, checkpointing=False)
    assert est.saved_activations == pytest.approx(measured, rel=0.15)
    as_if_bf16 = planner.saved_activation_bytes(arch, 2, 128, 2, True, planner.lora_targets(arch, "all-linear"), 8)
    assert as_if_bf16 < measured  # the fp32 upcast is real: a bf16 estimate would be too low


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("checkpointing", [False, True], ids=["no-ckpt", "ckpt"])
def test_mixed_precision_saved_activations_equal_the_measured_bytes_under_autocast(size, checkpointing):
    cfg, batch, seq = SIZES[size]
    measured = planner_check.training_saved_bytes(planner_check.build(cfg, device="cpu", dtype=torch.float32), batch, seq, checkpointing,
                                                  autocast=True)
    assert planner.saved_activation_bytes(planner.load_arch(cfg), batch, seq, 2, checkpointing=checkpointing,
                                          autocast=True) == measured


def test_full_finetune_at_16_bits_is_mixed_by_default_16_bytes_a_parameter_and_pure_is_8():
    mixed = planner.estimate("llama-3.2-1b", method="full", seq=512)
    pure = planner.estimate("llama-3.2-1b", method="full", seq=512, precision="pure")
    per_param = {e.knobs["precision"]: sum(e.components[k] for k in ("weights", "gradients", "optimizer")) / e.params
                 for e in (mixed, pure)}
    assert per_param == {"mixed": 16, "pure": 8} and mixed.total > 1.8 * pure.total
    assert planner.estimate("llama-3.2-1b", method="lora").knobs["precision"] is None  # only a full fine-tune
    with pytest.raises(ValueError, match="precision"):
        planner.estimate("gpt2", method="full", precision="half")


def test_measured_training_state_matches_the_planner_in_both_recipes():
    """Weights + gradients + AdamW states after one step, counted tensor by tensor, as the planner says."""
    for precision, dtype in (("mixed", torch.float32), ("pure", torch.bfloat16)):
        net = planner_check.build(TINY, device="cpu", dtype=dtype)
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
        ids = torch.randint(0, TINY["vocab_size"], (1, 16))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "mixed"):
            loss = net(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        measured = planner_check.training_state_bytes(net, opt)
        est = planner.estimate(TINY, method="full", precision=precision)
        assert measured == sum(est.components[k] for k in ("weights", "gradients", "optimizer"))


def test_rehearsal_runs_a_mixed_precision_full_finetune_on_cpu():
    row = planner_check.rehearse(dict(TINY), method="full", bits=16, batch=1, seq=32, device="cpu")
    assert row["status"] == "ok" and row["precision"] == "mixed"
