"""Measure what this machine computes per second: a matrix multiply timed fairly.

``matmul_tflops(n, dtype, device)`` warms up once (kernel selection, caches), then repeats the multiply
until ``min_seconds`` have passed, synchronising the GPU before reading the clock (``helpers.gpu.sync``),
and divides 2·n³ floating-point operations by the time of one multiply.

Taught in week 0 (00a-check-your-gpu), against the published peaks of ``helpers.gpu_specs``.
"""

from __future__ import annotations

import time

import torch

from helpers.gpu import sync


def matmul_tflops(n: int, dtype: torch.dtype = torch.float32, dev: torch.device | str = "cpu",
                  min_seconds: float = 0.2, max_repeats: int = 1000) -> dict:
    """Measure achieved TFLOP/s of an n x n matrix multiply (2 n^3 FLOPs) on a device."""
    a = torch.randn(n, n, device=dev, dtype=dtype)
    b = torch.randn(n, n, device=dev, dtype=dtype)
    torch.mm(a, b)  # warm-up: kernel selection, caches
    sync(dev)
    repeats, start = 0, time.perf_counter()
    while True:
        torch.mm(a, b)
        repeats += 1
        if repeats % 4 == 0 or repeats >= max_repeats:
            sync(dev)
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds or repeats >= max_repeats:
                break
    seconds = elapsed / repeats
    del a, b
    return {"n": n, "dtype": str(dtype).replace("torch.", ""), "device": torch.device(dev).type,
            "seconds": seconds, "tflops": 2 * n**3 / seconds / 1e12}
