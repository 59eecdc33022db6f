"""Tensor-resident loader vs torchvision DataLoader with per-image transforms, same augmentation. Goal >= 5x.

Both make normalised batches of CIFAR-shaped images with a random shift of up to 2 pixels
(reflect padding) and a random horizontal flip, on this machine's CPU: the DataLoader through
torchvision's per-image transforms (``RandomCrop``, ``RandomHorizontalFlip``, ``ToTensor``,
``Normalize``), the ``helpers.data.TensorLoader`` a whole batch at a time. Images per second.
"""

from __future__ import annotations

import sys
import time

from benchmarks.common import main, row

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


class _ArrayDataset:
    """Images as an N x H x W x 3 uint8 array, read as PIL images like torchvision's CIFAR10."""

    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def _images_per_s(loader, n_images: int, min_seconds: float) -> float:
    seen, start = 0, time.perf_counter()
    while True:
        for x, _ in loader:
            seen += len(x)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds or seen >= 20 * n_images:
            return seen / elapsed


def run(quick: bool = False) -> dict:
    """Measure both loaders on the same random images and return the speed ratio."""
    import torch
    from torch.utils.data import DataLoader
    from torchvision import transforms

    from helpers.data import TensorLoader

    n, batch = (2048, 256) if quick else (8192, 512)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 32, 32, 3), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (n,), generator=g)
    per_image = transforms.Compose([transforms.RandomCrop(32, padding=2, padding_mode="reflect"),
                                    transforms.RandomHorizontalFlip(), transforms.ToTensor(),
                                    transforms.Normalize(CIFAR_MEAN, CIFAR_STD)])
    dl = DataLoader(_ArrayDataset(images.numpy(), labels, per_image), batch_size=batch, shuffle=True,
                    num_workers=0, generator=torch.Generator().manual_seed(0))
    tl = TensorLoader(images.permute(0, 3, 1, 2).contiguous(), labels, batch, flip=True, translate=2,
                      mean=CIFAR_MEAN, std=CIFAR_STD)
    min_s = 1.0 if quick else 3.0
    dl_ips = _images_per_s(dl, n, min_s)
    tl_ips = _images_per_s(tl, n, min_s)
    ratio = tl_ips / dl_ips
    return row("TensorLoader / DataLoader (CPU)", ratio, "x (images/s ratio)", ">= 5", ratio >= 5,
               tensor_loader_images_per_s=round(tl_ips), dataloader_images_per_s=round(dl_ips), batch_size=batch,
               threads=torch.get_num_threads(), augmentation="shift <= 2 px (reflect) + random flip + normalise")


if __name__ == "__main__":
    sys.exit(main(run))
