"""Plots a learner would rather look at than read: curves, grids, matrices, memory timelines.

Taught in week 3 (03a-pytorch-basics-and-mnist); used again in 04a, 04b.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from helpers.presets import GIB


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


def learning_curves(history: dict[str, Any], title: str = "Learning curves") -> Any:
    """Training loss per logged step and, when present, validation loss and accuracy per epoch."""
    import matplotlib.pyplot as plt

    has_val = bool(history.get("val_acc"))
    fig, axes = plt.subplots(1, 2 if has_val else 1, figsize=(10 if has_val else 6, 3.5), squeeze=False)
    ax = axes[0][0]
    ax.plot(history["step"], history["train_loss"], label="train loss")
    if history.get("val_loss"):
        steps_per_epoch = history["step"][-1] / max(history["epoch"][-1], 1)
        ax.plot([e * steps_per_epoch for e in history["epoch"]], history["val_loss"], "o-", label="val loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy")
    ax.set_title(title)
    ax.legend()
    if has_val:
        acc = axes[0][1]
        acc.plot(history["epoch"], history["val_acc"], "o-", color="C2")
        acc.set_xlabel("epoch")
        acc.set_ylabel("validation accuracy")
        acc.set_title(f"best {max(history['val_acc']):.3f}")
    fig.tight_layout()
    return fig


def image_grid(images: Any, labels: Sequence[str] | None = None, mean: Sequence[float] | None = None,
               std: Sequence[float] | None = None, ncols: int = 8, title: str | None = None,
               size: float = 1.3) -> Any:
    """Show images with a caption each, ``ncols`` a row, ``size`` inches a cell; returns the figure.

    ``images``: an N x C x H x W tensor (uint8, or float in [0, 1] or normalised with ``mean``/``std``)
    or a list of PIL images of one size (what a diffusers pipeline returns).
    """
    import matplotlib.pyplot as plt
    import numpy as np
    import torch

    if isinstance(images, (list, tuple)) and images and hasattr(images[0], "convert"):  # PIL images
        images = torch.stack([torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1) for im in images])
    x = torch.as_tensor(images).detach().float().cpu()
    if mean is not None and std is not None:
        x = x * torch.tensor(std).view(1, -1, 1, 1) + torch.tensor(mean).view(1, -1, 1, 1)
    elif x.max() > 1.5:
        x = x / 255
    x = x.clamp(0, 1)
    n = len(x)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size + 0.2) * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            img = x[i].permute(1, 2, 0).numpy()
            ax.imshow(img.squeeze(-1) if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None)
            if labels is not None:
                ax.set_title(str(labels[i]), fontsize=7 if size < 2 else 9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], classes: Sequence[str] | None = None,
                     normalize: str | None = "true", ax: Any = None) -> Any:
    """scikit-learn's confusion-matrix display (rows: true class, normalised per row by default)."""
    from sklearn.metrics import ConfusionMatrixDisplay

    ax = _axes(ax, figsize=(6.5, 5.5))
    disp = ConfusionMatrixDisplay.from_predictions(
        list(y_true), list(y_pred), labels=list(range(len(classes))) if classes else None,
        display_labels=classes, normalize=normalize, values_format=".2f" if normalize else "d",
        xticks_rotation=45, colorbar=False, ax=ax)
    ax.set_title("Confusion matrix" + (" (each row sums to 1)" if normalize == "true" else ""))
    return disp


def batch_memory_curve(sizes: Sequence[int], peaks_bytes: Sequence[int], limit_bytes: int | None = None,
                       ax: Any = None, title: str = "Peak memory vs batch size") -> Any:
    """Peak memory of a training step against batch size, with the memory limit as a line."""
    ax = _axes(ax)
    ax.plot(list(sizes), [p / GIB for p in peaks_bytes], "o-", label="peak during one step")
    if limit_bytes:
        ax.axhline(limit_bytes / GIB, color="C3", linestyle="--", label="limit")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size")
    ax.set_ylabel("GiB")
    ax.set_title(title)
    ax.legend()
    return ax
