"""Smoke or full: which profile a notebook runs in, and the one call that opens every notebook.

Every notebook's first code cell after its parameters makes the same call::

    P, DEV = profiles.start(PROFILE, seed=SEED, needs=["gpu", "network"], downloads=["torchvision:CIFAR10"])

It resolves the profile (``PROFILE = "auto"`` becomes ``COURSE_PROFILE`` from the environment when set,
which CI sets to ``smoke``, else ``full``); in the full profile it stops at once, in one clear message, if
this machine lacks what the notebook needs (``helpers.ready.require_full``: ``needs`` and ``downloads`` are
spelled as the notebook's syllabus entry, and a test checks they agree; a notebook whose ladder's rungs name their
own models declares its downloads in ``ladders.pick`` instead); it seeds Python, NumPy and
PyTorch; in the smoke profile it keeps to one CPU thread (CI runs two notebooks at once on two cores);
and it picks the device: the best GPU in the full profile, the CPU in smoke. ``pick(P, smoke=..., full=...)``
then chooses each size for the profile.

Taught in week 0 (00a-check-your-gpu); every notebook opens with it.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from typing import Any

PROFILES = ("smoke", "full")


def resolve_profile(profile: str = "auto") -> str:
    """Turn ``"auto"`` into ``COURSE_PROFILE`` (else ``"full"``) and check the name."""
    chosen = (profile or "auto").strip().lower()
    if chosen == "auto":
        chosen = os.environ.get("COURSE_PROFILE", "full").strip().lower() or "full"
    if chosen not in PROFILES:
        raise ValueError(f"Unknown profile {profile!r}: use one of {', '.join(PROFILES)} (or 'auto').")
    return chosen


def pick(profile: str, *, smoke: Any, full: Any) -> Any:
    """Return the value for this profile: ``pick(P, smoke=64, full=4096)``."""
    return smoke if resolve_profile(profile) == "smoke" else full


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's random generators."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def one_thread() -> None:
    """Keep to one CPU thread: OpenMP for libraries loaded later, the thread pools already loaded, PyTorch."""
    import torch
    from threadpoolctl import threadpool_limits

    os.environ["OMP_NUM_THREADS"] = "1"  # read by OpenMP when a library first loads it
    threadpool_limits(1)  # NumPy's BLAS and the OpenMP pools already loaded
    torch.set_num_threads(1)


def start(profile: str = "auto", *, seed: int | None = 0, needs: Sequence[str] = (), downloads: Sequence[str] = (),
          vram_gb: float | None = None, what: str = "this notebook") -> tuple[str, Any]:
    """Open a notebook: resolve the profile, check the full profile's needs, seed, pick the device; return both.

    ``needs`` and ``downloads`` are the notebook's syllabus entry (see ``helpers.ready.require_full``);
    ``seed=None`` leaves the random generators alone. Smoke runs on one CPU thread and on the CPU; the
    full profile takes the best device (cuda, then Apple's mps, then the CPU).
    """
    import torch

    from helpers import gpu
    from helpers.ready import require_full

    chosen = resolve_profile(profile)
    require_full(chosen, needs=needs, downloads=downloads, vram_gb=vram_gb, what=what)
    if seed is not None:
        seed_everything(seed)
    if chosen == "smoke":
        one_thread()
    dev = gpu.device() if chosen == "full" else torch.device("cpu")
    print(f"profile: {chosen} · device: {dev}" + (f" · seed: {seed}" if seed is not None else ""))
    return chosen, dev
