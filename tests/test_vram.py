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


@pytest.mark.slow
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


@pytest.mark.parametrize("message", [
    "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
    "cuDNN error: CUDNN_STATUS_NOT_INITIALIZED",
    "cuDNN error: CUDNN_STATUS_ALLOC_FAILED",
    "CUDA error: out of memory\nCUDA kernel errors might be asynchronously reported at some other API call",
])
def test_cublas_and_cudnn_allocation_failures_count_as_out_of_memory(message):
    assert vram.is_oom(RuntimeError(message))
    assert vram.is_oom(torch.AcceleratorError(message)) if hasattr(torch, "AcceleratorError") else True
    assert not vram.is_oom(RuntimeError("CUDNN_STATUS_BAD_PARAM: a wrong shape"))


class _SpillingCard:
    """A faked 12 GiB card whose desktop holds 1.5 GiB and whose driver, like Windows' since 536.40, lets
    allocations past the physical VRAM spill into system RAM instead of failing, unless PyTorch's allocator
    is capped (set_per_process_memory_fraction)."""

    GIB = 2**30

    def __init__(self, monkeypatch, obey_cap: bool = True) -> None:
        self.total, self.desktop, self.obey_cap = 12 * self.GIB, int(1.5 * self.GIB), obey_cap
        self.reserved = self.peak = 0
        self.fraction = 1.0
        self.fractions: list[float] = []
        cuda = torch.cuda
        monkeypatch.setattr(cuda, "is_available", lambda: True)
        monkeypatch.setattr(cuda, "mem_get_info", lambda *a: (self.total - self.desktop - self.reserved, self.total))
        monkeypatch.setattr(cuda, "memory_reserved", lambda *a: self.reserved)
        monkeypatch.setattr(cuda, "max_memory_reserved", lambda *a: self.peak)
        monkeypatch.setattr(cuda, "reset_peak_memory_stats", lambda *a: setattr(self, "peak", self.reserved))
        monkeypatch.setattr(cuda, "empty_cache", lambda: None)
        monkeypatch.setattr(cuda, "get_device_properties", lambda *a: type("Props", (), {"total_memory": self.total}))
        monkeypatch.setattr(cuda, "get_per_process_memory_fraction", lambda *a: self.fraction)
        monkeypatch.setattr(cuda, "set_per_process_memory_fraction", self._set_fraction)
        monkeypatch.setattr(vram, "free_cached", lambda: None)  # nothing to collect on a faked card (and gc is slow)

    def _set_fraction(self, fraction, *a) -> None:
        self.fraction = fraction
        self.fractions.append(fraction)

    def one_step(self, batch: int) -> None:
        """A training step that needs 0.2 GiB plus 2 MiB per image, as ResNet-9's step roughly does."""
        need = int(0.2 * self.GIB) + batch * 2 * 2**20
        if self.obey_cap and need > self.fraction * self.total:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {need} bytes")
        self.peak = max(self.peak, need)  # beyond total - desktop it spills: no error, minutes of work


def test_the_batch_search_stops_at_the_free_vram_measured_at_its_start(monkeypatch):
    card = _SpillingCard(monkeypatch)
    found = vram.find_batch_size(card.one_step, start=16384, multiple_of=64)
    budget = card.total - card.desktop - vram.SEARCH_MARGIN
    assert found.budget == budget
    assert found.batch_size * 2 * 2**20 + 0.2 * card.GIB <= budget < (found.batch_size + 64) * 2 * 2**20 + 0.2 * card.GIB
    assert card.fractions[0] == pytest.approx(budget / card.total) and card.fraction == 1.0  # capped, then restored
    assert "budget 10.00 GiB" in str(found)  # 12 GiB - 1.5 for the desktop - 0.5 of margin


def test_a_trial_that_spills_past_the_budget_counts_as_not_fitting(monkeypatch):
    card = _SpillingCard(monkeypatch, obey_cap=False)  # the driver never refuses: the peak check must catch it
    found = vram.find_batch_size(card.one_step, start=16384, multiple_of=64)
    assert found.tried[0] == (16384, "over budget") and "16384 over budget" in str(found)
    assert found.batch_size * 2 * 2**20 + 0.2 * card.GIB <= found.budget
    assert found.batch_size >= 4096  # the search still refines up to the budget, not down to a power of two


def test_on_windows_the_search_says_why_it_stops_at_the_free_vram(monkeypatch):
    card = _SpillingCard(monkeypatch)
    monkeypatch.setattr(vram.sys, "platform", "win32")
    found = vram.find_batch_size(card.one_step, start=8192)
    assert "536.40" in found.note and "Prefer No Sysmem Fallback" in str(found)
    monkeypatch.setattr(vram.sys, "platform", "linux")
    assert vram.find_batch_size(card.one_step, start=8192).note == ""


def test_the_budget_is_what_is_free_not_the_cards_total(monkeypatch):
    card = _SpillingCard(monkeypatch)
    card.reserved = 2**30  # PyTorch already holds 1 GiB (a model): it counts, it can be reused
    assert vram.free_budget("cuda") == card.total - card.desktop - vram.SEARCH_MARGIN
    assert vram.free_budget("cpu") is None


@pytest.mark.slow
def test_on_a_cpu_the_search_has_no_budget_and_sets_no_cap():
    found = vram.find_batch_size(_fake_oom_above(100), start=512, device="cpu")
    assert found.budget is None and "budget" not in str(found)
