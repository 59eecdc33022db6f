"""Portability of 4-bit models on any x86-64 CPU: both bitsandbytes CPU paths, and tiny models sized for them.

bitsandbytes 0.50 has two CPU paths for a ``Linear4bit`` layer. On a processor with AVX512-BF16 (AMD Zen 4,
Intel Sapphire Rapids and later) it repacks each weight, the first time the layer runs in eval mode without
gradients, for a fused inference kernel; the repacking needs out_features divisible by 32 and in_features
by the quantisation block (64). Elsewhere it keeps the plain layout. These tests run both on whatever CPU
CI has: the plain path always, the packing itself always, the packed kernel wherever the CPU has it.
"""

from __future__ import annotations

import copy

import pytest
import torch

from helpers import finetune as ft
from helpers import llm, models

bnb = pytest.importorskip("bitsandbytes")
from bitsandbytes.functional import (  # noqa: E402
    _convert_weight_packed_for_cpu,
    _convert_weight_packed_for_cpu_inverse,
    has_avx512bf16,
)

CPU_HAS_PACKED_KERNEL = bool(has_avx512bf16())
# Output heads that transformers never quantises (its skip list keeps lm_head in 16 bits) or sized by the task.
HEADS = ("lm_head", "classifier", "qa_outputs")


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    return models.tiny_model_dir("llama", tmp_path_factory.mktemp("tiny-4bit") / "llama")


def _load_4bit(folder):
    model, tok = llm.load_causal_lm(folder, quant="4bit", device="cpu")
    return model, tok


def _linear_shapes(model: torch.nn.Module):
    from transformers.pytorch_utils import Conv1D

    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            yield name, module.in_features, module.out_features
        elif isinstance(module, Conv1D):  # GPT-2's linear layers, weights stored transposed
            yield name, module.weight.shape[0], module.nf


def _tiny_models():
    from helpers import multimodal

    for kind in models.TINY_KINDS:
        yield kind, models.build_tiny(kind)[0]
    yield "llava", multimodal.build_tiny_llava()[0]


def test_every_tiny_model_layer_is_a_multiple_of_64_wide(tmp_path):
    from helpers import diffusion

    checked = 0
    tiny = list(_tiny_models())
    pipe = diffusion.load_pipeline(models.tiny_pipeline(tmp_path / "sd"))
    tiny += [("sd-unet", pipe.unet), ("sd-vae", pipe.vae), ("sd-text", pipe.text_encoder)]
    for kind, model in tiny:
        for name, n_in, n_out in _linear_shapes(model):
            if name.split(".")[-1] in HEADS:
                continue
            assert n_in % 64 == 0 and n_out % 64 == 0, (
                f"{kind}: layer {name} is {n_in} -> {n_out}; bitsandbytes' packed CPU kernel needs multiples "
                "of 64 (see CONTRIBUTING.md, 'Tiny models')")
            checked += 1
    assert checked > 40


def test_every_4bit_weight_of_the_tiny_llama_packs_and_unpacks_exactly(llama_dir):
    """The repacking that AVX512-BF16 CPUs do is plain tensor code: prove it accepts every layer, on any CPU."""
    model, _ = _load_4bit(llama_dir)
    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(layers) == 2 * 7
    for layer in layers:
        state = copy.deepcopy(layer.weight.quant_state)
        original = layer.weight.data.clone()
        packed, packed_state = _convert_weight_packed_for_cpu(original.clone(), state)
        assert packed_state.packing_format_for_cpu
        restored, _ = _convert_weight_packed_for_cpu_inverse(packed, packed_state)
        assert torch.equal(restored.view(torch.uint8).reshape(-1), original.view(torch.uint8).reshape(-1))


def _qlora_grads(model, tok) -> dict[str, torch.Tensor]:
    """One QLoRA training step's LoRA gradients (before the optimizer moves anything)."""
    torch.manual_seed(0)
    peft_model = ft.add_lora(model, r=8, alpha=16, dropout=0.0)
    batch = ft.Collator(tok.pad_token_id)([ft.tokenize_pair(tok, "What is a GPU?", "A processor with many cores.")])
    peft_model.train()
    loss = peft_model(**batch).loss
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in peft_model.named_parameters() if p.requires_grad}
    assert torch.isfinite(loss)
    return grads


def _logits(model, tok) -> torch.Tensor:
    enc = tok("The capital of France is", return_tensors="pt")
    with torch.inference_mode():
        return model(**enc).logits.float()


def test_plain_cpu_path_runs_a_4bit_forward_and_a_qlora_step(llama_dir):
    model, tok = _load_4bit(llama_dir)
    assert llm.cpu_4bit_path(model, packed=False) == 14
    logits = _logits(model, tok)
    assert torch.isfinite(logits).all()
    assert not any(getattr(m.weight.quant_state, "packing_format_for_cpu", False)
                   for m in model.modules() if isinstance(m, bnb.nn.Linear4bit))
    grads = _qlora_grads(model, tok)
    b_grads = {n: g for n, g in grads.items() if "lora_B" in n}
    assert len(b_grads) == 14 and all(g.abs().sum() > 0 for g in b_grads.values())


@pytest.mark.skipif(not CPU_HAS_PACKED_KERNEL, reason="this CPU has no AVX512-BF16, so bitsandbytes has no "
                    "packed 4-bit kernel here (the packing itself is tested above on every CPU)")
def test_packed_cpu_path_matches_the_plain_one_and_training_after_it_gets_true_gradients(llama_dir):
    plain, tok = _load_4bit(llama_dir)
    llm.cpu_4bit_path(plain, packed=False)
    packed, _ = _load_4bit(llama_dir)
    llm.cpu_4bit_path(packed, packed=True)
    ref, out = _logits(plain, tok), _logits(packed, tok)
    assert all(m.weight.quant_state.packing_format_for_cpu
               for m in packed.modules() if isinstance(m, bnb.nn.Linear4bit))
    torch.testing.assert_close(out, ref, atol=0.1, rtol=0.05)  # the packed kernel computes in bf16
    # Train after generating: add_lora restores the plain layout, so the gradients are the plain path's (to
    # about 1 %: unpacking re-quantises the absmax scales). Left packed, most would be zero (the packed
    # kernel has no backward): a relative error of 76-100 % on this model.
    grads_plain, grads_packed = _qlora_grads(plain, tok), _qlora_grads(packed, tok)
    assert grads_plain.keys() == grads_packed.keys()
    for name, ref_grad in grads_plain.items():
        if "lora_B" in name:
            error = float((grads_packed[name] - ref_grad).norm() / ref_grad.norm())
            assert error < 0.05, f"{name}: gradient off by {error:.0%}"
