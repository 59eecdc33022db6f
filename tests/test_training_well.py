"""Notebook 03b's own code does what its lessons say: imported from the notebook and run on small random data.

That the unregularised network overfits and that the cures narrow its gap on the stand-in MNIST is checked by
the runner against the syllabus thresholds (``loss_gap_narrowed``...); here, the pieces those numbers rest on.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from course import notebook_code
from helpers import data

CPU = torch.device("cpu")


def _notebook(n_train: int = 40, n_val: int = 30):
    """03b's definitions, with a tiny random training and validation set in place of MNIST."""
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n_train + n_val, 1, 28, 28), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (n_train + n_val,), generator=g)
    train_idx, val_idx = torch.arange(n_train), torch.arange(n_train, n_train + n_val)
    normal = (images.float() / 255 - data.MNIST_MEAN[0]) / data.MNIST_STD[0]
    return notebook_code.definitions(
        "03b", "run", "mlp", "measure", "gaps", "forever", "deep_mlp", "activation_stds", DEV=CPU, HIDDEN=32,
        EPOCHS=4, BATCH_SIZE=10, DEPTH=10, WIDTH=64, images=images, labels=labels, train_idx=train_idx,
        X_train=normal[train_idx], y_train=labels[train_idx], X_val=normal[val_idx], y_val=labels[val_idx])


def test_a_run_keeps_the_weights_of_its_best_validation_epoch_and_returns_its_last():
    nb = _notebook()
    history = nb.run(epochs=5, lr=0.05)
    assert all(len(history[k]) == 5 for k in ("train_loss", "train_acc", "val_loss", "val_acc"))
    best = nb.mlp()
    best.load_state_dict(history["best_state"])
    assert nb.measure(best, nb.X_val, nb.y_val)[0] == pytest.approx(min(history["val_loss"]), rel=1e-5)
    assert nb.measure(history["model"], nb.X_val, nb.y_val)[0] == pytest.approx(history["val_loss"][-1], rel=1e-5)
    acc_gap, loss_gap = nb.gaps(history)
    assert acc_gap == history["train_acc"][-1] - history["val_acc"][-1]
    assert loss_gap == history["val_loss"][-1] - history["train_loss"][-1]


def test_every_cure_starts_from_the_same_weights_and_a_run_repeats_exactly():
    nb = _notebook()
    torch.manual_seed(0)
    plain = nb.mlp(0.0).state_dict()
    torch.manual_seed(0)
    dropped = nb.mlp(0.5).state_dict()  # dropout has no weights: the same draws give the same network
    assert all(torch.equal(plain[k], dropped[k]) for k in plain)
    first, again = nb.run(epochs=2, weight_decay=0.01, translate=2), nb.run(epochs=2, weight_decay=0.01, translate=2)
    assert first["val_loss"] == again["val_loss"] and first["train_acc"] == again["train_acc"]


def test_measure_evaluates_without_dropout_and_leaves_the_model_training():
    nb = _notebook()
    model = nb.mlp(0.9).train()
    first = nb.measure(model, nb.X_val, nb.y_val)
    assert nb.measure(model, nb.X_val, nb.y_val) == first  # dropout off: the same numbers twice
    assert model.training


def test_kaiming_keeps_the_signal_through_ten_layers_while_bad_inits_explode_or_vanish():
    nb = _notebook()
    x = torch.randn(256, 1, 28, 28)
    kaiming = nb.activation_stds(nb.deep_mlp(lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu")), x)
    large = nb.activation_stds(nb.deep_mlp(lambda w: nn.init.normal_(w, std=1.0)), x)
    small = nb.activation_stds(nb.deep_mlp(lambda w: nn.init.normal_(w, std=0.01)), x)
    assert len(kaiming) == len(large) == len(small) == 10
    assert 0.3 < kaiming[-1] / kaiming[0] < 3
    assert large[-1] > 1e6 * large[0] and small[-1] < 1e-6 * small[0]


def test_forever_serves_epoch_after_epoch_each_with_its_own_shuffle():
    nb = _notebook()
    loader = data.TensorLoader(nb.images[:10], nb.labels[:10], 4, seed=0)  # 3 batches an epoch
    batches = list(itertools.islice(nb.forever(loader), 7))
    assert len(batches) == 7 and loader.epoch == 2
    first_epoch, second_epoch = torch.cat([y for _, y in batches[:3]]), torch.cat([y for _, y in batches[3:6]])
    assert sorted(first_epoch.tolist()) == sorted(second_epoch.tolist())  # every image once per epoch...
    assert not torch.equal(first_epoch, second_epoch)  # ...in another order
