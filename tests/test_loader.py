"""TensorLoader's derandomised flip: every image is mirrored in every other epoch, whatever the shuffle."""

from __future__ import annotations

import torch

from helpers import data


def _numbered_rows(n: int) -> torch.Tensor:
    """n one-row images whose pixels rise left to right, so a mirrored image is easy to spot."""
    return (torch.arange(n)[:, None] * 4 + torch.arange(4)).to(torch.uint8).view(n, 1, 1, 4)


def _mirrored_by_image(loader: data.TensorLoader, epochs: int) -> torch.Tensor:
    """epochs x n: True where image i (found by its label) came out mirrored in that epoch."""
    n = len(loader.images)
    seen = torch.zeros(epochs, n, dtype=torch.bool)
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        for x, y in loader:
            seen[epoch, y] = x[:, 0, 0, 0] > x[:, 0, 0, -1]
    return seen


def test_alternate_flip_follows_each_image_across_four_epochs_in_strict_alternation():
    n = 40
    loader = data.TensorLoader(_numbered_rows(n), torch.arange(n), batch_size=7, flip="alternate", seed=3)
    mirrored = _mirrored_by_image(loader, epochs=4)
    assert torch.all(mirrored[1:] != mirrored[:-1]), "each image must flip every other epoch, not at random"
    first = mirrored[0].float().mean().item()
    assert 0.2 < first < 0.8, "which epoch an image starts mirrored in is drawn per image (about half each)"


def test_alternate_flip_does_not_depend_on_the_batch_size_or_the_shuffle():
    n = 40
    a = data.TensorLoader(_numbered_rows(n), torch.arange(n), batch_size=7, flip="alternate", seed=3)
    b = data.TensorLoader(_numbered_rows(n), torch.arange(n), batch_size=16, flip="alternate", seed=3)
    assert torch.equal(_mirrored_by_image(a, 2), _mirrored_by_image(b, 2))


def test_random_flip_is_drawn_again_every_epoch():
    n = 200
    loader = data.TensorLoader(_numbered_rows(n), torch.arange(n), batch_size=32, flip=True, seed=0)
    mirrored = _mirrored_by_image(loader, epochs=2)
    assert 0.3 < mirrored.float().mean().item() < 0.7
    assert 0.3 < (mirrored[0] != mirrored[1]).float().mean().item() < 0.7, "a random flip is not an alternation"
