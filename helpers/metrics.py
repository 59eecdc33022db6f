"""What a notebook measured, shown to the learner and saved for the course runner to check.

``record(accuracy=0.97, train_s=12.3)`` shows the values as a small table and, when the runner
(``python -m course run``) or a test set ``COURSE_METRICS_FILE``, merges them into that JSON file
together with the peak memory so far. The runner compares them with the thresholds of the notebook's
``[[notebooks]]`` entry in ``course/syllabus.toml``. Names ending in ``_s``, ``_gib``, ``_x`` and the
like are measurements of the machine (:func:`is_measurement`): checked, but not expected to repeat.

Taught in week 0 (00a-check-your-gpu); every notebook records its metrics in its last cells.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


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
