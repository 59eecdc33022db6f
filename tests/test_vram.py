"""helpers.vram: the peak tracker, the monitor, the gauge, memory stats and the OOM-safe batch-size search."""

from __future__ import annotations

import pytest
import torch

from helpers import vram


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
