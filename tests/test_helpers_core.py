"""helpers.gpu, helpers.vram and helpers.profile on a CPU-only machine (and CUDA where present)."""

from __future__ import annotations

import json

import pytest
import torch

from helpers import gpu, profile, vram


def test_auto_profile_reads_the_environment(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    assert profile.resolve_profile("auto") == "smoke"
    monkeypatch.delenv("COURSE_PROFILE")
    assert profile.resolve_profile("auto") == "full"
    assert profile.resolve_profile("FULL") == "full"


def test_an_unknown_profile_is_refused_with_the_valid_names():
    with pytest.raises(ValueError, match="smoke, full"):
        profile.resolve_profile("fast")


def test_pick_chooses_by_profile():
    assert profile.pick("smoke", smoke=1, full=2) == 1 and profile.pick("full", smoke=1, full=2) == 2


def test_record_writes_metrics_and_peak_memory_for_the_runner(tmp_path, monkeypatch, capsys):
    target = tmp_path / "m.json"
    monkeypatch.setenv("COURSE_METRICS_FILE", str(target))
    profile.record(accuracy=torch.tensor(0.9375), loss=1.5)
    profile.record(steps=3)
    saved = json.loads(target.read_text())
    assert saved["metrics"] == {"accuracy": 0.9375, "loss": 1.5, "steps": 3}
    assert saved["memory"]["peak_rss_mb"] > 0
    assert "accuracy: 0.9375" in capsys.readouterr().out


def test_timings_and_memory_are_measurements_not_seeded_results():
    assert profile.is_measurement("epoch_s") and profile.is_measurement("peak_vram_gb")
    assert not profile.is_measurement("test_accuracy")


def test_device_falls_back_to_cpu_without_a_gpu():
    if not torch.cuda.is_available():
        assert gpu.device().type in ("cpu", "mps")
    assert gpu.device("cpu").type == "cpu"


def test_report_is_correct_and_useful_on_this_machine(capsys):
    rep = gpu.report()
    assert rep.torch_version == torch.__version__
    if rep.device == "cpu":
        assert rep.vram_total_gb is None and rep.notes, "a CPU-only report explains why there is no GPU"
        assert "No GPU" in gpu.verdict(rep)
    else:
        assert rep.vram_total_gb and rep.compute_capability
    gpu.show(rep)
    out = capsys.readouterr().out
    assert "torch / CUDA / driver" in out and "CPU" in out


@pytest.mark.parametrize("name, fp32", [("NVIDIA GeForce RTX 4070 Ti", 40.1),
                                        ("NVIDIA GeForce RTX 4070 Ti SUPER", 44.1), ("Tesla T4", 8.1)])
def test_published_peaks_match_the_longest_name(name, fp32):
    assert gpu.peak_tflops(name)[0] == fp32


def test_matmul_throughput_is_measured():
    res = gpu.matmul_tflops(64, dev="cpu", min_seconds=0.01)
    assert res["tflops"] > 0 and res["seconds"] > 0 and res["n"] == 64


def test_track_peak_sees_a_100_mb_allocation_on_cpu():
    with vram.track_peak("cpu", interval=0.002) as peak:
        x = torch.ones(25 * 2**20)  # 100 MiB of fp32
        x.add_(1)
        import time

        time.sleep(0.05)
        del x
    assert peak.delta > 80 * 2**20, str(peak)
    assert "peak process RSS" in str(peak)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_track_peak_is_exact_on_cuda():
    with vram.track_peak("cuda") as peak:
        x = torch.ones(2**20, device="cuda")
        del x
    assert peak.delta == 4 * 2**20


def test_monitor_samples_and_marks():
    with vram.Monitor("cpu", interval=0.005) as mon:
        mon.mark("start")
    assert len(mon.values) >= 2 and mon.marks[0][1] == "start" and mon.peak > 0


def test_gauge_falls_back_to_text_outside_jupyter(capsys):
    g = vram.Gauge("cpu")
    assert g.widget is None
    text = g.update(2**30)
    assert "1.00 /" in text and "GiB RAM" in capsys.readouterr().out


def test_memory_stats_on_cpu_are_in_gib():
    stats = vram.memory_stats("cpu")
    assert 0 < stats["process_rss_gib"] < stats["system_total_gib"]


def _fake_oom_above(limit: int):
    def try_batch(size: int) -> None:
        if size > limit:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {size} MiB")
    return try_batch


def test_oom_halves_batch_until_it_fits_and_reports_what_it_tried():
    found = vram.find_batch_size(_fake_oom_above(100), start=512, refine=False)
    assert found.batch_size == 64
    assert found.tried == [(512, "oom"), (256, "oom"), (128, "oom"), (64, "fits")]
    assert "tried: 512 OOM" in str(found)


def test_oom_search_refines_to_the_largest_size_that_fits():
    assert vram.find_batch_size(_fake_oom_above(100), start=512).batch_size == 100
    assert vram.find_batch_size(_fake_oom_above(100), start=512, multiple_of=8).batch_size == 96


def test_runtime_errors_saying_out_of_memory_count_as_oom():
    def try_batch(size):
        if size > 10:
            raise RuntimeError("[enforce fail] DefaultCPUAllocator: not enough memory: you tried... out of memory")
    assert vram.find_batch_size(try_batch, start=16).batch_size == 10


def test_other_errors_are_not_swallowed():
    def broken(size):
        raise ValueError("shape mismatch")
    with pytest.raises(ValueError):
        vram.find_batch_size(broken, start=8)


def test_even_the_smallest_batch_failing_says_what_to_do():
    with pytest.raises(RuntimeError, match="gradient checkpointing"):
        vram.find_batch_size(_fake_oom_above(0), start=4)


def test_doctor_names_the_cpu_features_that_change_kernel_paths():
    from helpers import gpu as gpu_mod

    zen4 = "fpu sse2 avx2 avx512f avx512_bf16 avx512vl"
    assert gpu_mod.cpu_features(zen4) == ["AVX2", "AVX512", "AVX512-BF16"]
    assert "repacks" in gpu_mod.cpu_paths_note(gpu_mod.cpu_features(zen4))
    assert gpu_mod.cpu_features("fpu sse2 avx2 fma") == ["AVX2"]
    assert "plain" in gpu_mod.cpu_paths_note(["AVX2"])
    assert gpu_mod.cpu_features("avx2 avx512f avx512_bf16 amx_tile amx_bf16")[-1] == "AMX"
    assert isinstance(gpu_mod.report().cpu_features, list)
