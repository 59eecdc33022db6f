"""The precision rule and the machine's report: bf16 from native support (not emulation), peaks by exact name.

The device queries are mocked: a T4-like card (compute capability 7.5, where PyTorch's
``is_bf16_supported()`` says yes through emulation) and an Ada card (8.9, native bf16).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from helpers import gpu, gpu_specs, machine, train

CARDS = {"t4": ("Tesla T4", (7, 5), 15.64), "ada": ("NVIDIA GeForce RTX 4070 Ti", (8, 9), 11.99)}


@pytest.fixture(params=sorted(CARDS))
def card(request, monkeypatch):
    """Pretend this machine has the card: every device query PyTorch would answer is mocked."""
    name, (major, minor), gib = CARDS[request.param]
    props = SimpleNamespace(name=name, major=major, minor=minor, multi_processor_count=40,
                            total_memory=int(gib * 2**30))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)  # as on a T4
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (major, minor))
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=None: props)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (int((gib - 0.4) * 2**30), props.total_memory))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    return request.param


def test_bf16_is_decided_by_native_support_not_emulation(card):
    native = card == "ada"
    assert gpu.native_bf16() is native
    rule = gpu.precision("cuda")
    assert rule.compute == rule.half == (torch.bfloat16 if native else torch.float16)
    assert rule.autocast and rule.scaler is not native, "fp16 needs a GradScaler, bf16 does not"
    assert train.autocast_dtype("cuda", "auto") == rule.compute, \
        "a T4 trains in fp16 (fit() adds a GradScaler for it), an Ada card in bf16"
    facts = machine.gather(test_bnb=False)
    assert facts.bf16 is native and facts.tf32 is native
    if not native:
        assert any("no native bf16" in note and "GradScaler" in note for note in facts.notes())


def test_the_report_carries_the_cards_published_peaks(card):
    facts = machine.gather(test_bnb=False)
    expected = {"t4": (8.1, None, 65.0), "ada": (40.1, 40.1, 80.2)}[card]
    assert tuple(facts.peaks) == expected


@pytest.mark.parametrize("name, vram, fp32", [
    ("NVIDIA GeForce RTX 4070 SUPER", None, 35.5),
    ("NVIDIA GeForce RTX 4070", None, 29.1),
    ("NVIDIA GeForce RTX 4070 Ti", None, 40.1),
    ("NVIDIA GeForce RTX 4070 Ti SUPER", None, 44.1),
    ("NVIDIA GeForce RTX 4060 Ti", None, 22.1),
    ("NVIDIA GeForce RTX 4060", None, 15.1),
    ("NVIDIA GeForce RTX 3060", 11.8, 12.7),
    ("NVIDIA GeForce RTX 3080", 9.8, 29.8),
    ("NVIDIA GeForce RTX 3080", 11.8, 30.6),
    ("NVIDIA GeForce RTX 5070 Ti", None, 43.9),
    ("NVIDIA H100 PCIe", None, 51.2),
    ("NVIDIA H100 80GB HBM3", None, 66.9),
    ("NVIDIA A100-SXM4-40GB", None, 19.5),
    ("NVIDIA A100 80GB PCIe", None, 19.5),
    ("NVIDIA L4", None, 30.3),
    ("Tesla T4", None, 8.1),
])
def test_published_peaks_are_matched_by_exact_name(name, vram, fp32):
    assert gpu_specs.peak_tflops(name, vram).fp32 == fp32


@pytest.mark.parametrize("name", ["NVIDIA GeForce RTX 4090 Laptop GPU", "NVIDIA GeForce RTX 4070 Ti Laptop GPU",
                                  "NVIDIA H200 NVL", "NVIDIA A10G", "NVIDIA RTX A4000", "NVIDIA GeForce RTX 40"])
def test_a_card_not_in_the_table_gets_no_borrowed_figures(name):
    assert gpu_specs.peak_tflops(name) is None


def test_every_geforce_peak_follows_its_architectures_ratios():
    for key, peak in gpu_specs.PEAK_TFLOPS.items():
        if key.startswith("RTX"):  # GeForce: TF32 dense = fp32, 16-bit with fp32 accumulate = 2 x fp32
            assert peak.tf32 == peak.fp32 and abs(peak.f16 - 2 * peak.fp32) <= 0.3, key  # published figures are rounded


def test_a_cpu_computes_in_fp32_and_its_half_type_is_bf16():
    rule = gpu.precision("cpu")
    assert rule.compute == torch.float32 and rule.half == torch.bfloat16 and not rule.autocast and not rule.scaler
    assert train.autocast_dtype("cpu", "auto") is None
