"""Which profile a notebook runs in, its seed and threads, and the metrics it records for the runner.

Introduced in week 0; every notebook calls ``P = profile.resolve_profile(PROFILE)``, and those that seed
or cap CPU threads call ``profile.setup(P, seed=SEED, threads=1)`` in the same first cell.

``PROFILE = "auto"`` in a notebook's parameters cell becomes ``COURSE_PROFILE`` from the
environment when set (CI sets ``smoke``), else ``full``. Metrics go through :func:`record`:
it shows them in the notebook and, when the runner (``python -m course run``) or a test set
``COURSE_METRICS_FILE``, merges them into that JSON file together with the peak memory so far.

Taught in week 0 (00a-check-your-gpu); every notebook's parameters cell uses it.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
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


def _clean(value: Any) -> Any:
    """Make numpy / torch scalars JSON-friendly."""
    if hasattr(value, "item") and callable(value.item):
        try:
            return value.item()
        except (ValueError, RuntimeError):
            pass
    if isinstance(value, float):
        return round(value, 6)
    return value


def record(show: bool = True, **metrics: Any) -> dict[str, Any]:
    """Show metrics in the notebook and save them where the course runner reads them."""
    from helpers.cache import write_json_atomic
    from helpers.vram import peak_memory

    metrics = {k: _clean(v) for k, v in metrics.items()}
    target = os.environ.get("COURSE_METRICS_FILE")
    if target:
        path = Path(target)
        try:
            saved = json.loads(path.read_text()) if path.exists() else {}
        except (OSError, json.JSONDecodeError):
            saved = {}
        saved.setdefault("metrics", {}).update(metrics)
        saved["memory"] = peak_memory()
        write_json_atomic(path, saved)
    if show:
        _show(metrics)
    return metrics


def _show(metrics: dict[str, Any]) -> None:
    rows = "".join(f"<tr><td><code>{k}</code></td><td>{v}</td></tr>" for k, v in metrics.items())
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display

        if get_ipython() is not None:
            display(HTML(f"<table><tr><th>metric</th><th>value</th></tr>{rows}</table>"))
            return
    except ImportError:
        pass
    for k, v in metrics.items():
        print(f"{k}: {v}")


# Metrics named with these endings are measurements of this machine (time, speed, memory):
# shown and checked against thresholds, but not expected to repeat exactly between runs.
MEASURED_SUFFIXES = ("_s", "_seconds", "_per_s", "_tflops", "_mb", "_gb", "_gib", "_speedup", "_x")


def is_measurement(name: str) -> bool:
    """True for metrics that measure the machine (timings, memory), which vary between runs."""
    return name.endswith(MEASURED_SUFFIXES)


def setup(profile: str, seed: int | None = 0, threads: int | None = None) -> str:
    """Seed Python, NumPy and PyTorch, and in the smoke profile cap the CPU threads; return the profile.

    ``seed=None`` leaves the random generators alone (notebooks that pass ``random_state`` everywhere).
    ``threads`` (smoke only) keeps a notebook from taking every core when CI runs two at once: it sets
    ``OMP_NUM_THREADS`` for libraries loaded later, limits the thread pools already loaded (NumPy's BLAS,
    OpenMP) and, when the notebook has imported PyTorch, PyTorch's own. The full profile leaves them be.
    """
    chosen = resolve_profile(profile)
    if seed is not None:
        import numpy as np
        import torch

        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
    if threads and chosen == "smoke":
        import sys

        from threadpoolctl import threadpool_limits

        os.environ["OMP_NUM_THREADS"] = str(threads)  # read by OpenMP when a library first loads it
        threadpool_limits(threads)  # the libraries already loaded
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
    return chosen
