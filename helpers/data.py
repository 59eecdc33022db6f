"""Datasets with their real loaders, the smoke stand-ins, and a fast tensor-resident loader.

``mnist(P)`` and ``cifar10(P)`` return torchvision's own ``MNIST`` / ``CIFAR10`` datasets. In the
full profile they download the real data once into ``cache.data_dir("torchvision")``. In the
smoke profile they read stand-ins built here, offline, in the same file formats: MNIST-format
IDX files made from scikit-learn's 8x8 handwritten digits (real handwriting, upscaled to 28x28)
and CIFAR-format pickles of coloured digits, so the loader code is the one a learner uses.

``TensorLoader`` keeps a whole dataset as one uint8 tensor (on the GPU when there is one) and
makes each batch with a few tensor operations: shuffle, normalise, random flip and translate
for the whole batch at once. It replaces a ``DataLoader`` with per-image transforms, which
spends most of its time in Python (see ``python -m benchmarks.loader``). Its order and its
augmentation depend only on ``(seed, epoch)``, so a resumed training run sees the same batches.

Taught in week 2 (02b-titanic-mini-project: ``titanic``) and week 3 (03a-pytorch-basics-and-mnist: ``mnist``); used again in 04a, 04b, 05a, 07a, e4.
"""

from __future__ import annotations

import csv
import json
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from helpers.cache import atomic_write, data_dir
from helpers.profiles import resolve_profile
from helpers.ready import CannotRunFull, data_missing, offline

MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)  # torchvision's reference values for MNIST
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)  # per-channel statistics of the CIFAR-10 training set
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
SMOKE_CIFAR_CLASSES = [f"digit {i}" for i in range(10)]


# ---------------------------------------------------------------- smoke stand-ins, built offline
def _write_bytes(path: Path, payload: bytes) -> None:
    atomic_write(path, lambda fh: fh.write(payload), binary=True)


def _digits(size: int, box: int) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 1797 handwritten 8x8 digits, upscaled into a box and centred: uint8 (N, size, size)."""
    import torch.nn.functional as F
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(box, box), mode="bilinear", align_corners=False).clamp(0, 1)
    pad = (size - box) // 2
    x = F.pad(x, (pad, size - box - pad, pad, size - box - pad))
    return (x.squeeze(1) * 255).round().to(torch.uint8), torch.tensor(digits.target, dtype=torch.uint8)


def _split(n: int, n_test: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[n_test:], perm[:n_test]


def _idx_bytes(t: torch.Tensor) -> bytes:
    """The IDX format that MNIST ships in: magic (0, 0, 0x08 = uint8, ndim), big-endian sizes, raw bytes."""
    header = bytes([0, 0, 0x08, t.dim()]) + b"".join(int(s).to_bytes(4, "big") for s in t.shape)
    return header + t.contiguous().numpy().tobytes()


def build_smoke_mnist(root: Path | None = None) -> Path:
    """Write MNIST-format IDX files of scikit-learn's digits (28x28) into ROOT/MNIST/raw; return ROOT."""
    root = Path(root) if root is not None else data_dir("smoke", "mnist")
    raw = root / "MNIST" / "raw"
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    if all((raw / n).exists() for n in names):
        return root
    raw.mkdir(parents=True, exist_ok=True)
    images, labels = _digits(28, 20)  # MNIST centres each digit in a 20x20 box of a 28x28 image
    train, test = _split(len(images), 360)
    for name, t in zip(names, (images[train], labels[train], images[test], labels[test])):
        _write_bytes(raw / name, _idx_bytes(t))
    return root


def _coloured_digits(images: torch.Tensor, labels: torch.Tensor, n: int, seed: int) -> tuple[Any, list[int]]:
    """n 32x32 RGB images: a digit in one random colour on a noisy background of another (N, 32, 32, 3)."""
    g = torch.Generator().manual_seed(seed)
    pick = torch.randint(len(images), (n,), generator=g)
    shape = images[pick].float().unsqueeze(-1) / 255  # N, 32, 32, 1
    shift = torch.randint(-3, 4, (n, 2), generator=g)
    shape = torch.stack([torch.roll(s, (int(dy), int(dx)), dims=(0, 1)) for s, (dy, dx) in zip(shape, shift)])
    fg = 0.55 + 0.45 * torch.rand(n, 1, 1, 3, generator=g)  # a bright stroke...
    bg = 0.35 * torch.rand(n, 1, 1, 3, generator=g)  # ...on a darker background, so the digit is always visible
    noise = torch.rand(n, 32, 32, 3, generator=g) * 0.15
    rgb = (shape * fg + (1 - shape) * bg + noise).clamp(0, 1)
    return (rgb * 255).round().to(torch.uint8).numpy(), labels[pick].tolist()


def build_smoke_cifar10(root: Path | None = None, n_train: int = 2500, n_test: int = 500) -> Path:
    """Write CIFAR-10-format pickles of coloured handwritten digits into ROOT/cifar-10-batches-py; return ROOT."""
    root = Path(root) if root is not None else data_dir("smoke", "cifar10-v2")
    folder = root / "cifar-10-batches-py"
    if (folder / "batches.meta").exists() and (folder / "test_batch").exists():
        return root
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = _digits(32, 24)
    train, test = _split(len(images), 360)
    per_file = n_train // 5
    for i in range(5):
        data, targets = _coloured_digits(images[train], labels[train], per_file, seed=1 + i)
        batch = {"batch_label": f"smoke batch {i + 1} of 5", "labels": targets, "data": data.reshape(per_file, -1, 3)
                 .transpose(0, 2, 1).reshape(per_file, -1), "filenames": [f"smoke_{i}_{k}.png" for k in range(per_file)]}
        _write_bytes(folder / f"data_batch_{i + 1}", pickle.dumps(batch))
    data, targets = _coloured_digits(images[test], labels[test], n_test, seed=100)
    test_batch = {"batch_label": "smoke test batch", "labels": targets,
                  "data": data.reshape(n_test, -1, 3).transpose(0, 2, 1).reshape(n_test, -1),
                  "filenames": [f"smoke_test_{k}.png" for k in range(n_test)]}
    _write_bytes(folder / "test_batch", pickle.dumps(test_batch))
    _write_bytes(folder / "batches.meta", pickle.dumps({"label_names": SMOKE_CIFAR_CLASSES,
                                                         "num_cases_per_batch": per_file, "num_vis": 3072}))
    return root


def _local_cifar10_class() -> type:
    from torchvision.datasets import CIFAR10

    class LocalCIFAR10(CIFAR10):
        """torchvision's CIFAR10 reading self-made batch files: the md5 checks of the real files are off."""

        train_list = [[name, None] for name, _ in CIFAR10.train_list]
        test_list = [[name, None] for name, _ in CIFAR10.test_list]
        meta = {**CIFAR10.meta, "md5": None}

    return LocalCIFAR10


def _download(cls: type, name: str, train: bool, transform: Any) -> Any:
    root = data_dir("torchvision")
    try:
        return cls(root, train=train, transform=transform, download=False)
    except RuntimeError:
        pass  # not cached yet
    if offline():
        raise data_missing(f"torchvision:{name.replace('-', '')}", f"{name} is missing from {root}")
    try:
        return cls(root, train=train, transform=transform, download=True)
    except Exception as err:  # noqa: BLE001 - no network, proxy, full disk: the learner needs one message
        raise CannotRunFull(f"could not download {name} into {root} ({type(err).__name__}: {err}). Check your "
                            "internet connection and free disk space, or set PROFILE = \"smoke\".") from None


def mnist(profile: str = "auto", train: bool = True, transform: Any = None) -> Any:
    """torchvision's ``MNIST``: the real dataset (full, downloaded once) or the local stand-in (smoke)."""
    from torchvision.datasets import MNIST

    if resolve_profile(profile) == "smoke":
        return MNIST(build_smoke_mnist(), train=train, transform=transform, download=False)
    return _download(MNIST, "MNIST", train, transform)


def cifar10(profile: str = "auto", train: bool = True, transform: Any = None) -> Any:
    """torchvision's ``CIFAR10``: the real dataset (full, downloaded once) or the local stand-in (smoke)."""
    if resolve_profile(profile) == "smoke":
        return _local_cifar10_class()(build_smoke_cifar10(), train=train, transform=transform, download=False)
    from torchvision.datasets import CIFAR10

    return _download(CIFAR10, "CIFAR-10", train, transform)


# ---------------------------------------------------------------- the course's own small data sets
# They ship inside this package (helpers/coursedata/, whose README.md says how each was made); these
# loaders are the only code that knows where.


def _coursedata(name: str) -> Any:
    from importlib.resources import files

    return files("helpers") / "coursedata" / name


def instructions(split: str | None = None) -> list[dict[str, str]]:
    """The course's 48 instruction pairs (``{"instruction", "response", "split"}``), optionally one split."""
    text = _coursedata("instructions.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [r for r in rows if split is None or r.get("split") == split]


def sentiment(split: str | None = None) -> list[dict[str, Any]]:
    """The course's 120 sentiment sentences (``{"text", "label", "split"}``; label 1 = positive)."""
    with _coursedata("sentiment.csv").open(encoding="utf-8", newline="") as fh:
        rows = [{"text": r["text"], "label": int(r["label"]), "split": r["split"]} for r in csv.DictReader(fh)]
    return [r for r in rows if split is None or r["split"] == split]


def titanic() -> Any:
    """The 1309 Titanic passengers shipped with the course, as a pandas DataFrame (7 columns, see the README)."""
    import pandas as pd

    with _coursedata("titanic.csv").open(encoding="utf-8", newline="") as fh:
        return pd.read_csv(fh)


def as_tensors(dataset: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """A torchvision MNIST/CIFAR dataset as (uint8 images N x C x H x W, int64 labels), without transforms."""
    images = torch.as_tensor(dataset.data)
    images = images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2)  # NHWC -> NCHW
    return images.contiguous(), torch.as_tensor(dataset.targets, dtype=torch.long)


# ---------------------------------------------------------------- the tensor-resident loader
def _reflect(i: torch.Tensor, size: int) -> torch.Tensor:
    i = i.abs()
    return torch.where(i >= size, 2 * (size - 1) - i, i)


def batch_shift_flip(x: torch.Tensor, shifts: torch.Tensor, flips: torch.Tensor | None = None) -> torch.Tensor:
    """Shift each image by its own (dy, dx) (edges filled by reflection) and mirror some, in one gather."""
    n, c, h, w = x.shape
    rows = _reflect(torch.arange(h, device=x.device) - shifts[:, :1], h)  # n x h: source row of each output row
    cols = _reflect(torch.arange(w, device=x.device) - shifts[:, 1:], w)  # n x w
    if flips is not None:
        cols = torch.where(flips.view(-1, 1), cols.flip(-1), cols)
    index = (rows[:, :, None] * w + cols[:, None, :]).view(n, 1, h * w).expand(n, c, h * w)
    return x.reshape(n, c, h * w).gather(2, index).view(n, c, h, w)


class TensorLoader:
    """Batches from a dataset held as one tensor (on the GPU if given), augmented a whole batch at a time.

    ``TensorLoader(images_uint8, labels, batch_size=512, flip=True, translate=2, mean=..., std=...,
    device="cuda")``. ``flip="alternate"`` mirrors each image in every other epoch instead of at random
    (which epochs is drawn once per image from ``seed``). Each batch is normalised to float (``dtype``),
    optionally channels_last. Taught in week 4b (``04b-cifar10-speedrun``).
    Order and augmentation come from ``(seed, epoch)`` only: call ``set_epoch(e)`` (``fit`` does).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, *, shuffle: bool = True,
                 flip: bool | str = False, translate: int = 0, mean: tuple[float, ...] | None = None,
                 std: tuple[float, ...] | None = None, device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float32, channels_last: bool = False, drop_last: bool = False,
                 seed: int = 0) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError("TensorLoader wants uint8 images shaped N x C x H x W: use data.as_tensors(dataset).")
        self.device = torch.device(device) if device is not None else images.device
        self.images = images.to(self.device)
        self.labels = labels.to(self.device)
        self.batch_size, self.shuffle, self.drop_last, self.seed = batch_size, shuffle, drop_last, seed
        self.flip, self.translate, self.dtype, self.channels_last = flip, translate, dtype, channels_last
        c = images.shape[1]
        self.mean = torch.tensor(mean or (0.0,) * c, device=self.device).view(1, c, 1, 1) * 255
        self.std = torch.tensor(std or (1.0,) * c, device=self.device).view(1, c, 1, 1) * 255
        self.epoch, self.start = 0, 0

    def __len__(self) -> int:
        n = len(self.images)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Choose the epoch (its shuffle and augmentation) and the first batch to yield."""
        self.epoch, self.start = epoch, start

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 images to normalised float images of the loader's dtype."""
        return x.float().sub_(self.mean).div_(self.std).to(self.dtype)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.images)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(n, generator=g) if self.shuffle else torch.arange(n)
        flips = torch.rand(n, generator=g) < 0.5  # indexed by image, not by position in the batch
        if self.flip == "alternate":  # airbench's derandomised flip: each image mirrored in every other epoch
            parity = torch.rand(n, generator=torch.Generator().manual_seed(self.seed)) < 0.5  # drawn once per image
            flips = parity ^ bool(self.epoch % 2)
        shifts = torch.randint(-self.translate, self.translate + 1, (n, 2), generator=g)
        order, flips, shifts = order.to(self.device), flips.to(self.device), shifts.to(self.device)
        for i in range(self.start, len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            x = self.images[idx]  # still uint8: augmenting before converting moves 4x fewer bytes
            if self.translate or self.flip:
                x = batch_shift_flip(x, shifts[idx], flips[idx] if self.flip else None)
            x = self.normalize(x)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self.labels[idx]
        self.start = 0


def loader_workers(profile: str, most: int = 8) -> int:
    """DataLoader worker processes: none in smoke, none on Windows, else up to ``most`` (one per core).

    On Windows workers are spawned, not forked: each re-imports the notebook's modules, so a loader re-created
    every epoch costs minutes and risks "WinError 1455" (paging file too small). Pass
    ``persistent_workers=workers > 0`` too, so that workers live across epochs. Taught in week 3 (03a); used in 04a.
    """
    import os
    import platform

    if platform.system() == "Windows":
        return 0
    return 0 if resolve_profile(profile) == "smoke" else min(most, os.cpu_count() or 1)
