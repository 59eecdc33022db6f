"""helpers.distributed.prepare_data: MNIST comes from helpers.data.mnist (one loader, its offline handling)."""

from __future__ import annotations

import types

import pytest
import torch

from helpers import data, distributed
from helpers.ready import CannotRunFull


def test_mnist_offline_and_not_cached_stops_with_the_loaders_message_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))  # nothing cached there
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    with pytest.raises(CannotRunFull):
        distributed.prepare_data("mnist", tmp_path / "e7")
    assert not list((tmp_path / "e7").iterdir())  # no half-written tensor file


def test_mnist_tensors_are_the_real_loaders_images_in_0_1_written_once(tmp_path, monkeypatch):
    calls = []

    def fake_mnist(profile="auto", train=True, transform=None):
        calls.append((profile, train))
        return types.SimpleNamespace(data=torch.full((3, 28, 28), 255, dtype=torch.uint8), targets=torch.tensor([1, 2, 3]))

    monkeypatch.setattr(data, "mnist", fake_mnist)
    path = distributed.prepare_data("mnist", tmp_path)
    assert calls == [("full", True)]  # "mnist" means the real training set, whatever the session's profile
    ds = distributed.load_data(path)
    assert ds.tensors[0].shape == (3, 1, 28, 28) and float(ds.tensors[0].max()) == 1.0
    assert ds.tensors[1].tolist() == [1, 2, 3]
    assert distributed.prepare_data("mnist", tmp_path) == path and len(calls) == 1  # reused, not rebuilt
    assert [p.name for p in tmp_path.iterdir()] == ["mnist-tensors.pt"]  # no temporary file left behind
