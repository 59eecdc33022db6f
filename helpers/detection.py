"""Object detection: the Penn-Fudan pedestrians and their smoke stand-in, a tiny Faster R-CNN, boxes drawn.

``penn_fudan(P)`` returns a folder in Penn-Fudan's own layout: ``PNGImages/NAME.png`` and
``PedMasks/NAME_mask.png``, where each pedestrian is one integer in the mask (0 is the background). In the
full profile it is the real database (170 images, 345 pedestrians; a 53.7 MB zip from the University of
Pennsylvania, downloaded once with torchvision's ``download_and_extract_archive`` into
``cache.data_dir("torchvision")``). In the smoke profile it is a stand-in built offline once: coloured
squares drawn on random-noise images, written in the same layout, so one Dataset class reads both.
``tiny_faster_rcnn`` is torchvision's ``FasterRCNN`` class with a three-layer backbone and small heads, for the
smoke profile; ``show`` draws ground-truth and predicted boxes on a grid of images with
``torchvision.utils.draw_bounding_boxes``.

Taught in week 4 (04d-object-detection).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from helpers.cache import build_once, data_dir
from helpers.profiles import resolve_profile
from helpers.ready import CannotRunFull, data_missing, offline

PENN_FUDAN_URL = "https://www.cis.upenn.edu/~jshi/ped_html/PennFudanPed.zip"
PENN_FUDAN_IMAGES = 170  # 96 from around the University of Pennsylvania, 74 from around Fudan University
SQUARES_VERSION = 3  # bump when the stand-in changes, so cached copies are rebuilt


# ---------------------------------------------------------------- the smoke stand-in, built offline
def build_squares(root: str | Path, n: int = 128, size: int = 96, seed: int = 0) -> Path:
    """Write ``n`` noise images with 1-3 solid squares each, in Penn-Fudan's layout (images + instance masks)."""
    import numpy as np
    from PIL import Image

    root = Path(root)
    (root / "PNGImages").mkdir(parents=True, exist_ok=True)
    (root / "PedMasks").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        image = rng.integers(0, 160, (size, size, 3), dtype=np.uint8)  # random pixels, darker than the squares
        mask = np.zeros((size, size), dtype=np.uint8)
        wanted, instance = int(rng.integers(1, 4)), 0
        for _ in range(50):  # place up to `wanted` squares that do not touch, so every box is a whole square
            side = int(rng.integers(14, 36))
            x, y = (int(v) for v in rng.integers(0, size - side, 2))
            if instance == wanted or mask[max(y - 1, 0):y + side + 1, max(x - 1, 0):x + side + 1].any():
                continue
            instance += 1
            image[y:y + side, x:x + side] = rng.integers(96, 256, 3, dtype=np.uint8)  # one flat, lighter colour
            mask[y:y + side, x:x + side] = instance
        name = f"Squares{i + 1:05d}"
        Image.fromarray(image).save(root / "PNGImages" / f"{name}.png")
        Image.fromarray(mask).save(root / "PedMasks" / f"{name}_mask.png")
    return root


def _download_penn_fudan(folder: Path) -> None:
    """Download and unpack the real database into ``folder`` (PNGImages/, PedMasks/, Annotation/, readme)."""
    from torchvision.datasets.utils import download_and_extract_archive

    download_and_extract_archive(PENN_FUDAN_URL, download_root=str(folder), remove_finished=True)
    unpacked = folder / "PennFudanPed"  # the zip holds one top-level folder: lift its contents up
    for item in unpacked.iterdir():
        shutil.move(str(item), str(folder / item.name))
    unpacked.rmdir()
    found = len(list((folder / "PNGImages").glob("*.png")))
    if found != PENN_FUDAN_IMAGES:
        raise RuntimeError(f"the Penn-Fudan zip unpacked {found} images, not {PENN_FUDAN_IMAGES}")


def penn_fudan(profile: str = "auto") -> Path:
    """The folder of Penn-Fudan (full: downloaded once, 53.7 MB) or of its squares stand-in (smoke: built offline)."""
    if resolve_profile(profile) == "smoke":
        return build_once(data_dir("smoke", "squares"), build_squares, version=SQUARES_VERSION)
    folder = data_dir("torchvision") / "PennFudanPed"
    if (folder / ".built.json").exists():
        return folder
    if offline():
        raise data_missing("torchvision:PennFudanPed", f"Penn-Fudan is missing from {folder}")
    try:
        return build_once(folder, _download_penn_fudan)
    except Exception as err:  # noqa: BLE001 - no network, a moved URL, a full disk: the learner needs one message
        raise CannotRunFull(f"could not download Penn-Fudan from {PENN_FUDAN_URL} into {folder} "
                            f"({type(err).__name__}: {err}). Check your internet connection and free disk space, "
                            "or set PROFILE = \"smoke\".") from None


# ---------------------------------------------------------------- a tiny Faster R-CNN for the smoke profile
def tiny_faster_rcnn(num_classes: int = 2, width: int = 16, image_size: int = 96) -> Any:
    """torchvision's ``FasterRCNN`` with a 3-layer backbone (stride 8), 3 square anchors and a 128-wide box head.

    About 0.24 M parameters (the real MobileNetV3 one has 19 M): it trains on the CPU in seconds. Images are
    kept at ``image_size`` (no resizing), and the proposal and detection counts are cut to fit small images.
    """
    from torch import nn
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.ops import MultiScaleRoIAlign

    backbone = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1), nn.ReLU(), nn.Conv2d(width, 2 * width, 3, 2, 1), nn.ReLU(),
                             nn.Conv2d(2 * width, 2 * width, 3, 2, 1), nn.ReLU())
    backbone.out_channels = 2 * width  # FasterRCNN reads this to size its heads
    return FasterRCNN(
        backbone, num_classes=None,
        rpn_anchor_generator=AnchorGenerator(sizes=((16, 32, 48),), aspect_ratios=((1.0,),)),
        box_roi_pool=MultiScaleRoIAlign(["0"], output_size=7, sampling_ratio=2),
        box_head=TwoMLPHead(2 * width * 7 * 7, 128), box_predictor=FastRCNNPredictor(128, num_classes),
        min_size=image_size, max_size=image_size, image_mean=[0.5] * 3, image_std=[0.25] * 3,
        rpn_pre_nms_top_n_train=300, rpn_post_nms_top_n_train=100, rpn_pre_nms_top_n_test=150,
        rpn_post_nms_top_n_test=50, rpn_batch_size_per_image=64,
        box_batch_size_per_image=32, box_positive_fraction=0.5,  # half the sampled proposals are squares: surer scores
        box_detections_per_img=5)  # at most 3 squares an image


# ---------------------------------------------------------------- drawing
def _uint8(image: torch.Tensor) -> torch.Tensor:
    """A C x H x W image as uint8 (floats are taken as 0-1), what ``draw_bounding_boxes`` wants."""
    image = image.detach().cpu()
    return image if image.dtype == torch.uint8 else (image.clamp(0, 1) * 255).round().to(torch.uint8)


def show(images: Sequence[torch.Tensor], targets: Sequence[dict] | None = None,
         predictions: Sequence[dict] | None = None, score_threshold: float = 0.5, ncols: int = 4,
         title: str = "", titles: Sequence[str] | None = None, names: Sequence[str] | None = None,
         label_scores: bool = True) -> Any:
    """A grid of images: true boxes in green, predicted boxes (score >= threshold) in red with their score."""
    import matplotlib.pyplot as plt
    from torchvision.utils import draw_bounding_boxes

    n = len(images)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 3.2 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, image) in enumerate(zip(axes.flat, images)):
        drawn = _uint8(image)
        width = max(1, round(max(drawn.shape[-2:]) / 150))
        if targets is not None and len(targets[i]["boxes"]):
            drawn = draw_bounding_boxes(drawn, targets[i]["boxes"].detach().cpu(), colors="lime", width=width)
        keep = predictions[i]["scores"].detach().cpu() >= score_threshold if predictions is not None else None
        if keep is not None and keep.any():
            p = predictions[i]
            labels = [f"{names[int(c)] + ' ' if names else ''}{s:.2f}"
                      for c, s in zip(p["labels"][keep].tolist(), p["scores"][keep].tolist())] if label_scores else None
            drawn = draw_bounding_boxes(drawn, p["boxes"].detach().cpu()[keep], labels=labels, colors="red",
                                        width=width)
        ax.imshow(drawn.permute(1, 2, 0).numpy())
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
