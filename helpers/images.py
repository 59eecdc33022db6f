"""Images for transfer learning: Oxford-IIIT Pets with its offline stand-in, and a narrow ResNet-18 for smoke.

``pets(P, split, transform)`` returns torchvision's own ``OxfordIIITPet`` dataset. In the full profile it is the
real data set (37 cat and dog breeds, 3,680 training and 3,669 test photos; downloaded once into
``cache.data_dir("torchvision")``: about 755 MB of images and 18 MB of annotations, as the data set's page
lists them; CC BY-SA 4.0, the images' copyright stays with their owners). In the smoke profile it reads a stand-in written here, offline, in the same
folder layout and annotation format: five kinds of drawn shapes as the "breeds", 64x64 JPEGs, so the loader
code is the one a learner uses.

The smoke profile cannot download ImageNet weights either. ``narrow_resnet18`` is torchvision's ``resnet18``
with every layer ``divide`` times narrower (the same class, module names and forward), and
``smoke_pretrained_resnet18`` pre-trains one once on eight *other* shapes (the stand-in for ImageNet) and returns
the path of its ``state_dict``, which a notebook loads with ``load_state_dict(torch.load(path, weights_only=True))``
where the full profile calls the weights API.

Taught in week 4 (04c-transfer-learning).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from helpers.cache import build_once, data_dir
from helpers.profiles import resolve_profile
from helpers.ready import CannotRunFull, data_missing, offline

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # what torchvision's ImageNet weights expect (weights.transforms())
IMAGENET_STD = (0.229, 0.224, 0.225)
SMOKE_PRETRAIN_CLASSES = ["circle", "ring", "triangle", "square", "star", "cross", "bar", "two dots"]
SMOKE_PET_CLASSES = ["crescent", "arrow", "heart", "ellipse", "hexagon"]  # not among the pre-training shapes
SMOKE_PETS_PER_CLASS = {"trainval": 40, "test": 40}


# ---------------------------------------------------------------- drawn shapes
def _polygon(corners: int, cx: float, cy: float, r: float, rot: float, inner: float = 0.0) -> list:
    """Corners of a regular polygon (or a star when ``inner`` > 0: every other corner at ``inner * r``)."""
    k = corners * (2 if inner else 1)
    return [(cx + (inner * r if inner and i % 2 else r) * math.cos(rot + 2 * math.pi * i / k),
             cy + (inner * r if inner and i % 2 else r) * math.sin(rot + 2 * math.pi * i / k)) for i in range(k)]


def _rectangle(cx: float, cy: float, w: float, h: float, rot: float) -> list:
    c, s = math.cos(rot), math.sin(rot)
    return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in ((-w, -h), (w, -h), (w, h), (-w, h))]


def _curve(points: list, cx: float, cy: float, scale: float, rot: float) -> list:
    c, s = math.cos(rot), math.sin(rot)
    return [(cx + scale * (x * c - y * s), cy + scale * (x * s + y * c)) for x, y in points]


def draw_shape(kind: str, rng: Any, size: int = 64) -> Any:
    """One RGB PIL image: a shape of a random colour, size, place and angle on a noisy background of another."""
    import numpy as np
    from PIL import Image, ImageDraw

    bg = tuple(int(v) for v in rng.integers(0, 120, 3))
    fg = tuple(int(v) for v in rng.integers(130, 256, 3))  # brighter than any background: always visible
    img = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(img)
    r = size * rng.uniform(0.22, 0.34)
    cx, cy = (size / 2 + rng.uniform(-1, 1) * size * 0.12 for _ in range(2))
    rot = rng.uniform(0, 2 * math.pi)
    t = np.linspace(0, 2 * math.pi, 48)
    if kind in ("circle", "ring"):
        d.ellipse([cx - r, cy - r, cx + r, cy + r], **({"fill": fg} if kind == "circle" else
                                                       {"outline": fg, "width": max(2, int(0.3 * r))}))
    elif kind in ("triangle", "square", "hexagon"):
        d.polygon(_polygon({"triangle": 3, "square": 4, "hexagon": 6}[kind], cx, cy, r, rot), fill=fg)
    elif kind == "star":
        d.polygon(_polygon(5, cx, cy, r, rot, inner=0.45), fill=fg)
    elif kind in ("cross", "bar"):
        d.polygon(_rectangle(cx, cy, r, 0.26 * r, rot), fill=fg)
        if kind == "cross":
            d.polygon(_rectangle(cx, cy, 0.28 * r, r, rot), fill=fg)
    elif kind == "two dots":
        for sign in (-1, 1):
            ox, oy = cx + sign * 0.55 * r * math.cos(rot), cy + sign * 0.55 * r * math.sin(rot)
            d.ellipse([ox - 0.4 * r, oy - 0.4 * r, ox + 0.4 * r, oy + 0.4 * r], fill=fg)
    elif kind == "crescent":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fg)
        ox, oy = cx + 0.5 * r * math.cos(rot), cy + 0.5 * r * math.sin(rot)
        d.ellipse([ox - 0.9 * r, oy - 0.9 * r, ox + 0.9 * r, oy + 0.9 * r], fill=bg)
    elif kind == "arrow":
        back = (cx - 0.3 * r * math.cos(rot), cy - 0.3 * r * math.sin(rot))
        d.polygon(_rectangle(*back, 0.7 * r, 0.18 * r, rot), fill=fg)
        d.polygon(_polygon(3, cx + 0.3 * r * math.cos(rot), cy + 0.3 * r * math.sin(rot), 0.6 * r, rot), fill=fg)
    elif kind == "heart":
        heart = list(zip(np.sin(t) ** 3, -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)) / 16))
        d.polygon(_curve(heart, cx, cy, r, rot), fill=fg)
    elif kind == "ellipse":
        d.polygon(_curve(list(zip(np.cos(t), 0.5 * np.sin(t))), cx, cy, r, rot), fill=fg)
    else:
        raise ValueError(f"Unknown shape {kind!r}: use one of {SMOKE_PRETRAIN_CLASSES + SMOKE_PET_CLASSES}.")
    noisy = np.asarray(img, dtype=np.float32) + rng.normal(0, 12, (size, size, 3))
    return Image.fromarray(noisy.clip(0, 255).astype(np.uint8))


# ---------------------------------------------------------------- Oxford-IIIT Pets and its stand-in
def _write_smoke_pets(folder: Path) -> None:
    """Files as OxfordIIITPet reads them: images/<breed>_<n>.jpg and annotations/{trainval,test}.txt lines
    "<image id> <class 1..N> <species 1 or 2> <breed id within the species>"."""
    import numpy as np

    base = folder / "oxford-iiit-pet"
    (base / "images").mkdir(parents=True)
    (base / "annotations").mkdir()
    rng = np.random.default_rng(2024)
    number = 0
    for split, per_class in SMOKE_PETS_PER_CLASS.items():
        lines = []
        for _ in range(per_class):
            for label, kind in enumerate(SMOKE_PET_CLASSES):
                number += 1
                image_id = f"{kind.replace(' ', '_')}_{number}"
                draw_shape(kind, rng).save(base / "images" / f"{image_id}.jpg", quality=92)
                lines.append(f"{image_id} {label + 1} {label % 2 + 1} {label // 2 + 1}\n")
        (base / "annotations" / f"{split}.txt").write_text("".join(lines))


def build_smoke_pets() -> Path:
    """Write the smoke stand-in of Oxford-IIIT Pets once (400 small JPEGs); return the root OxfordIIITPet reads."""
    return build_once(data_dir("smoke", "pets"), _write_smoke_pets, version=1)


def pets(profile: str = "auto", split: str = "trainval", transform: Any = None) -> Any:
    """torchvision's ``OxfordIIITPet`` (labels: the breed): the real data (full, downloaded once) or the stand-in (smoke)."""
    from torchvision.datasets import OxfordIIITPet

    if resolve_profile(profile) == "smoke":
        return OxfordIIITPet(build_smoke_pets(), split=split, transform=transform)
    root = data_dir("torchvision")
    try:
        return OxfordIIITPet(root, split=split, transform=transform)
    except RuntimeError:
        pass  # not downloaded yet
    if offline():
        raise data_missing("torchvision:OxfordIIITPet", f"Oxford-IIIT Pets is missing from {root}")
    try:
        return OxfordIIITPet(root, split=split, transform=transform, download=True)
    except Exception as err:  # noqa: BLE001 - no network, proxy, full disk: the learner needs one message
        raise CannotRunFull(f"could not download Oxford-IIIT Pets (about 775 MB) into {root} ({type(err).__name__}: "
                            f"{err}). Check your internet connection and free disk space, or set PROFILE = \"smoke\".") from None


# ---------------------------------------------------------------- a narrow ResNet-18, "pre-trained" offline
def narrow_resnet18(num_classes: int = 1000, divide: int = 8) -> nn.Module:
    """torchvision's ``resnet18`` with every layer ``divide`` times narrower: same class, layer names and forward."""
    from torchvision.models import resnet18

    model = resnet18(num_classes=num_classes)
    for module in list(model.modules()):
        for name, child in module.named_children():
            if isinstance(child, nn.Conv2d):
                c_in = child.in_channels if child.in_channels == 3 else child.in_channels // divide
                new = nn.Conv2d(c_in, child.out_channels // divide, child.kernel_size, child.stride, child.padding,
                                bias=False)
                nn.init.kaiming_normal_(new.weight, mode="fan_out", nonlinearity="relu")  # as torchvision inits
            elif isinstance(child, nn.BatchNorm2d):
                new = nn.BatchNorm2d(child.num_features // divide)
            elif isinstance(child, nn.Linear):
                new = nn.Linear(child.in_features // divide, child.out_features)
            else:
                continue
            setattr(module, name, new)
    return model


def _shape_tensors(kinds: list[str], per_class: int, seed: int, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Drawn shapes as normalised float images (N x 3 x size x size, ImageNet statistics) and their labels."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = [np.asarray(draw_shape(k, rng).resize((size, size), Image.BILINEAR)) for _ in range(per_class) for k in kinds]
    x = torch.tensor(np.stack(pixels)).permute(0, 3, 1, 2).float() / 255
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std, torch.arange(len(kinds)).repeat(per_class)


def _pretrain(folder: Path, per_class: int = 150, epochs: int = 6, batch: int = 32, lr: float = 1e-2) -> None:
    import torch.nn.functional as F

    x, y = _shape_tensors(SMOKE_PRETRAIN_CLASSES, per_class, seed=1)
    with torch.random.fork_rng(devices=[]):  # a seeded run of its own: the caller's random stream is left where it was
        torch.manual_seed(0)
        model = narrow_resnet18(num_classes=len(SMOKE_PRETRAIN_CLASSES))
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
        steps = epochs * math.ceil(len(x) / batch)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
        for _ in range(epochs):
            order = torch.randperm(len(x))
            for i in range(0, len(x), batch):
                idx = order[i:i + batch]
                flip = torch.rand(len(idx)) < 0.5
                xb = torch.where(flip.view(-1, 1, 1, 1), x[idx].flip(-1), x[idx])
                loss = F.cross_entropy(model(xb), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
    torch.save(model.state_dict(), folder / "resnet18-narrow-shapes.pth")


def smoke_pretrained_resnet18() -> Path:
    """The path of a ``narrow_resnet18(num_classes=8)`` state_dict pre-trained (once, ~5 s) on the eight shapes."""
    return build_once(data_dir("smoke", "resnet18-narrow-shapes"), _pretrain, version=1) / "resnet18-narrow-shapes.pth"
