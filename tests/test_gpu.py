"""helpers.gpu, machine and speed: the device, the machine's report, matmul throughput, the CPU features."""

from __future__ import annotations

import torch

from helpers import gpu, machine, speed


def test_device_prefers_cuda_then_mps_then_falls_back_to_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert gpu.device().type == "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert gpu.device().type == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert gpu.device().type == "cuda" and gpu.device("cpu").type == "cpu"


def test_report_is_correct_and_useful_on_this_machine(capsys):
    facts = machine.gather(test_bnb=False)
    assert facts.torch_version == torch.__version__
    if facts.device == "cpu":
        assert facts.vram_total_gib is None and facts.notes(), "a CPU-only report explains why there is no GPU"
        assert "No GPU" in machine.verdict(facts)
    else:
        assert facts.vram_total_gib and facts.capability
    machine.show(facts)
    out = capsys.readouterr().out
    assert "torch / CUDA / driver" in out and "CPU" in out


def test_matmul_throughput_is_measured():
    res = speed.matmul_tflops(64, dev="cpu", min_seconds=0.01)
    assert res["tflops"] > 0 and res["seconds"] > 0 and res["n"] == 64


def test_doctor_names_the_cpu_features_that_change_kernel_paths():
    zen4 = "fpu sse2 avx2 avx512f avx512_bf16 avx512vl"
    assert machine.cpu_features(zen4) == ["AVX2", "AVX512", "AVX512-BF16"]
    assert "repacks" in machine.cpu_paths_note(machine.cpu_features(zen4))
    assert machine.cpu_features("fpu sse2 avx2 fma") == ["AVX2"]
    assert "plain" in machine.cpu_paths_note(["AVX2"])
    assert machine.cpu_features("avx2 avx512f avx512_bf16 amx_tile amx_bf16")[-1] == "AMX"
    assert isinstance(machine.gather(test_bnb=False).cpu_features, list)
