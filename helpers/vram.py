"""Measure memory: a peak tracker, a sampling monitor, a live gauge, and an OOM-safe batch finder.

The batch finder (``find_batch_size``) never goes past the VRAM free when it starts (``free_budget``): a
desktop holds part of the card, and Windows drivers spill allocations into system RAM instead of failing.

On a CUDA GPU the numbers come from PyTorch's caching allocator (``memory_allocated`` is what
tensors hold; ``nvidia-smi`` shows more, because it also counts the CUDA context and the
allocator's cache). On a CPU-only machine the same tools measure this process's resident
memory (RSS), so every notebook can show them in the smoke profile.

Taught in week 0 (00a-check-your-gpu); used again in nearly every notebook to measure peak memory.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psutil
import torch

from helpers.presets import GIB, MARGIN_GIB  # the course's one VRAM margin (helpers/presets)

GB = 1e9


def _cuda(dev: torch.device | str | None) -> bool:
    if dev is None:
        return torch.cuda.is_available()
    return torch.device(dev).type == "cuda"


def used_bytes(dev: torch.device | str | None = None) -> int:
    """Memory in use now: bytes held by tensors on the GPU, else this process's RSS."""
    if _cuda(dev):
        return torch.cuda.memory_allocated()
    return psutil.Process().memory_info().rss


def total_bytes(dev: torch.device | str | None = None) -> int:
    """Capacity of the memory that :func:`used_bytes` measures: the GPU's VRAM, else system RAM."""
    if _cuda(dev):
        return torch.cuda.get_device_properties(0).total_memory
    return psutil.virtual_memory().total


def memory_stats(dev: torch.device | str | None = None) -> dict[str, float]:
    """A one-line memory snapshot in GiB, for the "memory stats" cell before and after training."""
    if _cuda(dev):
        free, total = torch.cuda.mem_get_info()
        return {
            "allocated_gib": round(torch.cuda.memory_allocated() / GIB, 3),
            "reserved_gib": round(torch.cuda.memory_reserved() / GIB, 3),
            "peak_allocated_gib": round(torch.cuda.max_memory_allocated() / GIB, 3),
            "device_used_gib": round((total - free) / GIB, 3),
            "device_total_gib": round(total / GIB, 3),
        }
    vm = psutil.virtual_memory()
    return {
        "process_rss_gib": round(psutil.Process().memory_info().rss / GIB, 3),
        "system_used_gib": round((vm.total - vm.available) / GIB, 3),
        "system_total_gib": round(vm.total / GIB, 3),
    }


class Monitor:
    """Sample memory in a background thread: ``with Monitor() as m: ...`` then ``m.peak``, ``m.plot()``."""

    def __init__(self, dev: torch.device | str | None = None, interval: float = 0.02,
                 on_sample: Callable[[int], None] | None = None) -> None:
        self.dev = dev
        self.interval = interval
        self.on_sample = on_sample
        self.times: list[float] = []
        self.values: list[int] = []
        self.marks: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0

    def sample(self) -> int:
        """Take one sample now (also called by the thread)."""
        value = used_bytes(self.dev)
        self.times.append(time.perf_counter() - self._t0)
        self.values.append(value)
        if self.on_sample is not None:
            self.on_sample(value)
        return value

    def mark(self, label: str) -> None:
        """Label this moment on the timeline (e.g. "forward done")."""
        self.sample()
        self.marks.append((self.times[-1], label))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self) -> Monitor:
        """Start sampling."""
        self._t0 = time.perf_counter()
        self._stop.clear()
        self.sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> Monitor:
        """Stop sampling (takes a last sample)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()
        return self

    def __enter__(self) -> Monitor:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def peak(self) -> int:
        """Highest sampled value, in bytes."""
        return max(self.values, default=0)

    def plot(self, ax: Any = None, title: str = "Memory over time") -> Any:
        """Draw the timeline (see :func:`helpers.plots.memory_timeline`)."""
        from helpers.plots import memory_timeline

        label = "GPU memory allocated" if _cuda(self.dev) else "process RSS"
        return memory_timeline(self.times, self.values, marks=self.marks, label=label, title=title, ax=ax)


@dataclass
class Peak:
    """Result of :func:`track_peak`: bytes at the start, the peak inside the block, the end."""

    device: str
    start: int = 0
    peak: int = 0
    end: int = 0

    @property
    def delta(self) -> int:
        """How far the peak rose above the starting level, in bytes."""
        return max(self.peak - self.start, 0)

    def __str__(self) -> str:
        what = "GPU allocated" if self.device == "cuda" else "process RSS"
        return (f"peak {what}: {self.peak / GIB:.3f} GiB "
                f"(+{self.delta / GIB:.3f} GiB over the {self.start / GIB:.3f} GiB at the start)")


@contextmanager
def track_peak(dev: torch.device | str | None = None, interval: float = 0.01) -> Iterator[Peak]:
    """Measure the peak memory of a block: ``with track_peak() as p: ...; print(p)``."""
    cuda = _cuda(dev)
    result = Peak(device="cuda" if cuda else "cpu")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        result.start = torch.cuda.memory_allocated()
        try:
            yield result
        finally:
            torch.cuda.synchronize()
            result.peak = torch.cuda.max_memory_allocated()
            result.end = torch.cuda.memory_allocated()
        return
    mon = Monitor(dev, interval=interval).start()
    result.start = mon.values[0]
    try:
        yield result
    finally:
        mon.stop()
        result.peak, result.end = mon.peak, mon.values[-1]


class Gauge:
    """A live memory bar: an ipywidgets progress bar in Jupyter, text lines elsewhere."""

    def __init__(self, dev: torch.device | str | None = None, description: str = "memory") -> None:
        self.dev = dev
        self.total = total_bytes(dev)
        self.description = description
        self.widget: Any = None
        try:
            import ipywidgets as widgets
            from IPython import get_ipython

            if get_ipython() is not None and getattr(get_ipython(), "kernel", None) is not None:
                self._bar = widgets.FloatProgress(value=0, min=0, max=self.total / GIB, description=description)
                self._label = widgets.Label()
                self.widget = widgets.HBox([self._bar, self._label])
        except ImportError:
            self.widget = None

    def display(self) -> Gauge:
        """Show the gauge in the notebook (or print the first text line)."""
        if self.widget is not None:
            from IPython.display import display

            display(self.widget)
        self.update()
        return self

    def update(self, value: int | None = None) -> str:
        """Refresh with the current (or a given) number of bytes; returns the text shown."""
        value = used_bytes(self.dev) if value is None else value
        where = "GPU" if _cuda(self.dev) else "RAM"
        text = f"{value / GIB:.2f} / {self.total / GIB:.1f} GiB {where} ({100 * value / self.total:.0f}%)"
        if self.widget is not None:
            self._bar.value = value / GIB
            self._label.value = text
        else:
            print(f"{self.description}: {text}")
        return text

    def follow(self, interval: float = 0.1) -> Monitor:
        """Keep the gauge live from a background monitor; stop it with ``.stop()``."""
        callback = self.update if self.widget is not None else None
        return Monitor(self.dev, interval=interval, on_sample=callback).start()


# What an allocation failure says, lower-cased: PyTorch's own out-of-memory error, a CUDA kernel's, and the cuBLAS /
# cuDNN errors raised when those libraries cannot get their workspace near the limit of the card.
OOM_MARKERS = ("out of memory", "cublas_status_alloc_failed", "cudnn_status_alloc_failed",
               "cudnn_status_not_initialized")
SEARCH_MARGIN = int(MARGIN_GIB * GIB)  # the same margin in bytes, for find_batch_size
SYSMEM_FALLBACK = ("On Windows, NVIDIA drivers since 536.40 let CUDA allocations spill into shared system RAM "
                   "instead of failing (each spilled trial takes minutes), so the search stops at the free VRAM "
                   "instead. To make the driver refuse: NVIDIA Control Panel > Manage 3D settings > "
                   "CUDA - Sysmem Fallback Policy > Prefer No Sysmem Fallback.")


def is_oom(err: BaseException) -> bool:
    """True if an exception is an out-of-memory error: PyTorch's (CUDA, MPS, CPU), a CUDA kernel's, cuBLAS's, cuDNN's."""
    if isinstance(err, torch.OutOfMemoryError):
        return True
    return isinstance(err, RuntimeError) and any(marker in str(err).lower() for marker in OOM_MARKERS)


def free_cached() -> None:
    """Release Python garbage and PyTorch's cached GPU blocks (after ``del model`` or an out-of-memory error).

    On a machine without CUDA it does nothing: there is no cache to release, Python frees a tensor as soon as its
    last name goes, and a full garbage collection in a process that holds a model costs about half a second.
    """
    if torch.cuda.is_available():
        gc.collect()
        torch.cuda.empty_cache()


def free_budget(dev: torch.device | str | None = None, margin: int = SEARCH_MARGIN) -> int | None:
    """Bytes PyTorch may hold on this GPU without spilling: what it holds now plus the free VRAM, less ``margin``.

    The free VRAM (``torch.cuda.mem_get_info``) is what the desktop, the browser and other programs have left,
    not the card's total. None on a CPU.
    """
    if not _cuda(dev):
        return None
    free, _ = torch.cuda.mem_get_info()
    return max(torch.cuda.memory_reserved() + free - margin, 0)


@dataclass
class BatchSearch:
    """What :func:`find_batch_size` found: the size, every size it tried with the outcome, and the budget."""

    batch_size: int
    tried: list[tuple[int, str]] = field(default_factory=list)
    budget: int | None = None  # bytes PyTorch could hold without spilling (free_budget at the start); None on a CPU
    note: str = ""

    def __str__(self) -> str:
        words = {"fits": "ok", "oom": "OOM", "over budget": "over budget"}
        steps = ", ".join(f"{b} {words.get(r, r)}" for b, r in self.tried)
        budget = f"; budget {self.budget / GIB:.2f} GiB: the VRAM free at the start, less a margin" if self.budget is not None else ""
        return f"batch size {self.batch_size} (tried: {steps}{budget})" + (f"\n{self.note}" if self.note else "")


def find_batch_size(try_batch: Callable[[int], Any], start: int = 512, min_size: int = 1,
                    refine: bool = True, multiple_of: int = 1, device: torch.device | str | None = None,
                    budget: int | None = None) -> BatchSearch:
    """Largest batch size for which ``try_batch(size)`` runs without out-of-memory, within the free VRAM.

    Halves from ``start`` until a size fits, then (``refine=True``) searches between the largest size that fit and
    the smallest that did not. On a GPU the search never goes past the VRAM free at its start (``budget``, default
    :func:`free_budget`): the allocator is capped there, so it raises out-of-memory instead of spilling into system
    RAM (Windows drivers do that), and a trial whose peak still passes it counts as not fitting. Only out-of-memory
    errors are caught (:func:`is_oom`); any other error propagates. Raises ``RuntimeError`` if even ``min_size`` fails.
    """
    if start < min_size or min_size < 1:
        raise ValueError("Need start >= min_size >= 1.")
    tried: list[tuple[int, str]] = []
    cuda = _cuda(device)
    if cuda and budget is None:
        free_cached()
        budget = free_budget(device)
    note = SYSMEM_FALLBACK if cuda and sys.platform == "win32" else ""
    last_error = ""

    def fits(size: int) -> bool:
        nonlocal last_error
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        try:
            try_batch(size)
        except Exception as err:  # noqa: BLE001 - re-raised unless it is an OOM
            if not is_oom(err):
                raise
            last_error = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
            del err
            free_cached()
            tried.append((size, "oom"))
            return False
        over = cuda and budget is not None and torch.cuda.max_memory_reserved() > budget
        free_cached()
        tried.append((size, "over budget" if over else "fits"))
        return not over

    previous = None
    if cuda and budget is not None:  # the allocator refuses past the budget instead of letting the driver spill
        total = torch.cuda.get_device_properties(0).total_memory
        getter = getattr(torch.cuda, "get_per_process_memory_fraction", None)  # PyTorch 2.6 and newer
        previous = getter() if getter is not None else 1.0
        torch.cuda.set_per_process_memory_fraction(min(max(budget / total, 0.0), 1.0))
    try:
        size, failed = start, None
        while not fits(size):
            failed = size
            if size == min_size:
                raise RuntimeError(f"Even batch size {min_size} runs out of memory ({last_error or 'over the budget'}"
                                   "): use a smaller model, shorter sequences, gradient checkpointing or 4-bit "
                                   "weights, or close programs that hold VRAM.")
            size = max(size // 2, min_size)
        if refine and failed is not None:
            low, high = size, failed  # low fits, high does not
            while high - low > multiple_of:
                mid = (low + high) // 2
                mid -= mid % multiple_of
                if mid <= low:
                    break
                if fits(mid):
                    low = mid
                else:
                    high = mid
            size = low
    finally:
        if previous is not None:
            torch.cuda.set_per_process_memory_fraction(previous)
    return BatchSearch(batch_size=size, tried=tried, budget=budget, note=note)


def peak_memory() -> dict[str, float]:
    """Peak memory of this process so far: host RSS and, on CUDA, PyTorch's allocator peak (MB)."""
    try:
        import resource  # POSIX

        rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak_mb = rss_kb / 1024 / 1024 if sys.platform == "darwin" else rss_kb / 1024  # macOS reports bytes
    except ImportError:  # Windows: the peak working set
        info = psutil.Process().memory_info()
        peak_mb = getattr(info, "peak_wset", info.rss) / 2**20
    out = {"peak_rss_mb": round(peak_mb, 1)}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["peak_vram_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out
