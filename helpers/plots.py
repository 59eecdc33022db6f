"""Plots a learner would rather look at than read: curves, grids, matrices, memory timelines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

GIB = 2**30


def _axes(ax: Any = None, figsize: tuple[float, float] = (6, 3.5)) -> Any:
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def memory_timeline(times: Sequence[float], values: Sequence[int], marks: Sequence[tuple[float, str]] = (),
                    label: str = "memory", title: str = "Memory over time", ax: Any = None) -> Any:
    """Plot memory (bytes) against seconds, with labelled marks; returns the axes."""
    ax = _axes(ax)
    ax.plot(list(times), [v / GIB for v in values], label=label)
    for t, text in marks:
        ax.axvline(t, color="grey", linestyle=":", linewidth=1)
        ax.annotate(text, (t, ax.get_ylim()[1]), rotation=90, va="top", ha="right", fontsize=8)
    ax.set_xlabel("seconds")
    ax.set_ylabel("GiB")
    ax.set_title(title)
    ax.legend(loc="lower right")
    return ax
