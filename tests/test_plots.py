"""helpers.plots.image_grid: one grid for tensor batches (weeks 3-4) and PIL images from a pipeline (week 8)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from helpers import plots  # noqa: E402


def _shown(fig) -> list[np.ndarray]:
    return [ax.images[0].get_array() for ax in fig.axes if ax.images]


def test_pil_images_and_the_same_uint8_tensor_draw_the_same_pixels_with_their_captions():
    rgb = torch.randint(0, 256, (3, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    pil = [Image.fromarray(x.permute(1, 2, 0).numpy()) for x in rgb]
    from_pil = plots.image_grid(pil, labels=["a", "b", "c"], ncols=2, size=2.4, title="PIL")
    from_tensor = plots.image_grid(rgb, labels=["a", "b", "c"], ncols=2)
    try:
        assert all(np.allclose(a, b) for a, b in zip(_shown(from_pil), _shown(from_tensor), strict=True))
        assert len(from_pil.axes) == 4 and [ax.get_title() for ax in from_pil.axes[:3]] == ["a", "b", "c"]
        assert from_pil.get_size_inches()[0] > from_tensor.get_size_inches()[0]  # size: inches a cell
    finally:
        plt.close("all")


def test_a_short_batch_gets_no_empty_columns_and_normalised_images_are_restored():
    x = torch.zeros(2, 1, 4, 4)  # normalised zeros are the mean itself
    fig = plots.image_grid(x, mean=(0.5,), std=(0.2,), ncols=8)
    try:
        assert len(fig.axes) == 2
        assert all(np.allclose(img, 0.5) for img in _shown(fig))
    finally:
        plt.close("all")
