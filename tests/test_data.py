"""helpers.data: the smoke stand-ins load through torchvision's real classes; the tensor loader augments."""

from __future__ import annotations

import pytest
import torch

from helpers import data
from helpers.ready import CannotRunFull


def test_smoke_mnist_is_read_by_torchvisions_mnist_class_as_28x28_digits():
    from torchvision.datasets import MNIST

    train, test = data.mnist("smoke"), data.mnist("smoke", train=False)
    assert type(train) is MNIST
    assert train.data.shape[1:] == (28, 28) and train.data.dtype == torch.uint8
    assert len(train) + len(test) == 1797  # every scikit-learn digit, split without overlap
    assert set(train.targets.tolist()) == set(range(10))
    image, label = train[0]
    assert image.size == (28, 28) and 0 <= label <= 9


def test_smoke_cifar_is_read_by_a_torchvision_cifar10_subclass_with_its_class_names():
    from torchvision.datasets import CIFAR10

    train, test = data.cifar10("smoke"), data.cifar10("smoke", train=False)
    assert isinstance(train, CIFAR10)
    assert train.data.shape[1:] == (32, 32, 3) and len(test) > 0
    assert train.classes == data.SMOKE_CIFAR_CLASSES
    assert set(train.targets) == set(range(10))


def test_full_profile_offline_without_the_data_stops_with_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    with pytest.raises(CannotRunFull, match="smoke"):
        data.cifar10("full")


def test_as_tensors_gives_uint8_nchw_images_and_long_labels():
    images, labels = data.as_tensors(data.cifar10("smoke", train=False))
    assert images.shape[1:] == (3, 32, 32) and images.dtype == torch.uint8 and labels.dtype == torch.long
    images, _ = data.as_tensors(data.mnist("smoke", train=False))
    assert images.shape[1:] == (1, 28, 28)


def test_batch_shift_flip_shifts_each_image_by_its_own_offset():
    x = torch.arange(2 * 16, dtype=torch.float32).view(2, 1, 4, 4)
    out = data.batch_shift_flip(x, torch.tensor([[1, 0], [0, -1]]))
    assert torch.equal(out[0, 0, 1:], x[0, 0, :3])  # moved down one row
    assert torch.equal(out[1, 0, :, :3], x[1, 0, :, 1:])  # moved left one column


def test_batch_shift_flip_mirrors_only_the_chosen_images():
    x = torch.arange(2 * 4, dtype=torch.float32).view(2, 1, 1, 4)
    out = data.batch_shift_flip(x, torch.zeros(2, 2, dtype=torch.long), torch.tensor([True, False]))
    assert torch.equal(out[0], x[0].flip(-1)) and torch.equal(out[1], x[1])


def test_tensor_loader_covers_every_example_once_per_epoch_and_depends_only_on_seed_and_epoch():
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 1, 2, 2).contiguous()
    labels = torch.arange(10)
    loader = data.TensorLoader(images, labels, batch_size=3, seed=7)
    assert len(loader) == 4
    seen = torch.cat([y for _, y in loader])
    assert sorted(seen.tolist()) == list(range(10))
    loader.set_epoch(1)
    epoch1 = torch.cat([y for _, y in loader])
    assert not torch.equal(seen, epoch1)
    loader.set_epoch(1, start=2)  # resuming mid-epoch yields the same remaining batches
    assert torch.equal(torch.cat([y for _, y in loader]), epoch1[6:])


def test_tensor_loader_normalises_and_keeps_images_with_their_labels():
    images = torch.full((4, 3, 8, 8), 255, dtype=torch.uint8)
    images[:2] = 0
    loader = data.TensorLoader(images, torch.tensor([0, 0, 1, 1]), 4, flip=True, translate=2,
                               mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), channels_last=True)
    x, y = next(iter(loader))
    assert x.is_contiguous(memory_format=torch.channels_last)
    for xi, yi in zip(x, y):
        assert torch.allclose(xi, torch.full_like(xi, 1.0 if yi == 1 else -1.0))


def test_tensor_loader_refuses_float_images_with_a_hint():
    with pytest.raises(ValueError, match="as_tensors"):
        data.TensorLoader(torch.zeros(2, 1, 4, 4), torch.zeros(2), 1)
