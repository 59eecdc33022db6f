"""Weeks 3-4: typical wrong answers get specific feedback, and the notebooks' own code does what the lessons say.

The notebooks' functions and classes are imported with ``notebook_code.definitions`` and run on small
inputs; that they train and record their metrics is checked by the runner against the syllabus thresholds.
Week 4's exercises are tested in test_cnn_exercises.py, its loader in test_loader.py."""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course import notebook_code
from course.exercises import week03
from helpers import data, ready


def test_week03_typical_mistakes_get_specific_feedback(capsys):
    assert not week03.q1.check((4, 1, 3))
    assert "both" in capsys.readouterr().out
    assert not week03.q2.check(784 * 128)
    assert "bias" in capsys.readouterr().out
    assert not week03.q2.check(784 + 128)
    assert "multiply" in capsys.readouterr().out
    assert not week03.q3.check(12)
    assert "+ x" in capsys.readouterr().out
    assert not week03.q4.check("a")
    assert ".grad" in capsys.readouterr().out


def test_03a_models_map_an_mnist_batch_to_ten_logits_with_the_parameters_the_notebook_counts():
    nb = notebook_code.definitions("03a", "MLP", "small_cnn", C1=8, C2=16)
    x = torch.zeros(4, 1, 28, 28)
    assert nb.MLP()(x).shape == nb.small_cnn()(x).shape == (4, 10)  # the CNN's 7x7 after two poolings is right
    assert sum(p.numel() for p in nb.MLP().parameters()) == (784 * 256 + 256) + (256 * 256 + 256) + (256 * 10 + 10)


@pytest.mark.parametrize(("system", "profile", "most", "expected"), [
    ("Windows", "full", 8, 0), ("Linux", "full", 2, 2), ("Darwin", "full", 8, 8), ("Linux", "full", 32, 16),
    ("Linux", "smoke", 8, 0)])
def test_loaders_start_no_workers_on_windows_where_each_would_be_spawned(system, profile, most, expected, monkeypatch):
    import platform

    monkeypatch.setattr(platform, "system", lambda: system)
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert data.loader_workers(profile, most=most) == expected


def test_04a_resnet9_residual_adds_its_input_and_the_net_gives_ten_logits():
    nb = notebook_code.definitions("04a", "resnet9", "Residual", "conv_bn", WIDTH=8)
    block = nb.Residual(4).eval()
    nn.init.zeros_(block.f[-1][1].weight)  # the last BatchNorm outputs 0: the block is the identity
    x = torch.randn(2, 4, 8, 8)
    assert torch.equal(block(x), x)
    assert nb.conv_bn(3, 8, pool=True)(torch.zeros(2, 3, 32, 32)).shape == (2, 8, 16, 16)
    assert nb.resnet9(8)(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_04a_plain_sgd_zig_zags_across_the_valley_and_momentum_arrives_sooner_and_smoother():
    nb = notebook_code.definitions("04a", "sgd_path")
    plain = nb.sgd_path(0.038)
    momentum = nb.sgd_path(0.0038, momentum=0.9)
    nesterov = nb.sgd_path(0.0038, momentum=0.9, nesterov=True)

    def crossings(path):
        return int((path[1:, 1] * path[:-1, 1] < 0).sum())

    assert crossings(plain) == len(plain) - 1  # every plain step jumps across the valley floor
    torch.testing.assert_close(plain[1:, 1] / plain[:-1, 1], torch.full((len(plain) - 1,), 1 - 50 * 0.038))
    assert len(nesterov) < len(momentum) < len(plain) < 5001  # all converge, in the lesson's order
    assert crossings(nesterov) < crossings(momentum) < len(plain) // 5  # and with far fewer swings


def test_04a_label_smoothing_has_a_floor_of_about_half_and_the_loss_keeps_the_plain_cross_entropy():
    recorded = []
    nb = notebook_code.definitions("04a", "smoothed_loss", "loss_fn", plain_train_loss=recorded)
    target = torch.full((10,), 0.01)
    target[3] = 0.91
    y = torch.tensor([3])
    floor = nb.smoothed_loss(target.log()[None], y)
    torch.testing.assert_close(floor, -(target * target.log()).sum())  # the entropy of the smoothed target
    assert 0.49 < floor < 0.51
    logits = torch.randn(4, 10, requires_grad=True)
    labels = torch.tensor([0, 3, 9, 3])
    loss = nb.loss_fn(logits, labels)
    torch.testing.assert_close(loss, F.cross_entropy(logits, labels, label_smoothing=0.1))
    torch.testing.assert_close(recorded[-1], F.cross_entropy(logits, labels))
    assert loss.requires_grad and not recorded[-1].requires_grad  # the recorded copy carries no gradient


def test_04a_saved_weights_reload_into_a_fresh_network_with_identical_predictions(tmp_path):
    nb = notebook_code.definitions("04a", "save_weights", "load_weights", "resnet9", WIDTH=4)
    torch.manual_seed(0)
    model = nb.resnet9(4)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(8, 3, 32, 32)
    F.cross_entropy(model(x), torch.randint(0, 10, (8,))).backward()  # one step: BatchNorm statistics move too
    opt.step()
    model.eval()
    path = tmp_path / "resnet9-weights.pt"
    nb.save_weights(model, path)
    torch.manual_seed(1)
    fresh = nb.resnet9(4).eval()
    with torch.no_grad():
        assert not torch.equal(fresh(x), model(x))
        reloaded = nb.load_weights(fresh, path)
        assert reloaded is fresh and torch.equal(reloaded(x), model(x))
    saved = torch.load(path, weights_only=True)  # tensors only: it loads without unpickling code
    assert saved.keys() == model.state_dict().keys() and any(k.endswith("running_mean") for k in saved)
    assert "state" not in saved  # weights only, not the optimizer: that is what fit's checkpoint adds


@pytest.mark.parametrize("key", ["04a", "04b"])
def test_the_full_profile_stops_in_its_first_cell_on_a_machine_without_a_gpu(key, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ready.CannotRunFull, match="needs a GPU"):
        notebook_code.opening(key, 1, PROFILE="full")


def test_04b_speedrun_net_gives_ten_logits_and_its_convolutions_start_as_the_identity():
    nb = notebook_code.definitions("04b", "speedrun_net", "Conv", WIDTHS=(16, 32, 32))
    assert nb.speedrun_net()(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    x = torch.randn(2, 3, 8, 8)
    assert torch.allclose(nb.Conv(3, 8)(x)[:, :3], x)  # dirac init: the first filters pass the input through


def test_04b_whitening_filters_decorrelate_the_2x2_patches_they_were_computed_from():
    nb = notebook_code.definitions("04b", "whitening_filters")
    gen = torch.Generator().manual_seed(0)
    mixing = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.5, 0.5, 0.7]])  # correlated colour channels
    images = torch.einsum("ij,njhw->nihw", mixing, torch.randn(64, 3, 16, 16, generator=gen))
    filters = nb.whitening_filters(images, eps=0.0)
    assert filters.shape == (24, 3, 2, 2) and torch.equal(filters[12:], -filters[:12])
    out = F.conv2d(images, filters[:12]).permute(1, 0, 2, 3).reshape(12, -1)
    assert torch.allclose(out @ out.T / out.shape[1], torch.eye(12), atol=1e-3)


def test_04b_label_smoothing_keeps_a_loss_on_confident_right_answers():
    nb = notebook_code.definitions("04b", "loss_fn")
    y = torch.tensor([3, 7])
    confident = F.one_hot(y, 10).float() * 50
    assert F.cross_entropy(confident, y) < 1e-6 < 1.0 < nb.loss_fn(confident, y)


def test_04b_optimizer_scales_batchnorm_biases_and_warms_up_then_decays():
    nb = notebook_code.definitions("04b", "make_optimizer", "speedrun_net", WIDTHS=(16, 32, 32), BATCH_SIZE=64)
    opt, sched = nb.make_optimizer(nb.speedrun_net(), steps=100, batch=64)
    biases, others = opt.param_groups
    assert biases["lr"] == pytest.approx(64 * others["lr"])
    assert all(p.ndim == 1 for p in biases["params"])  # only the BatchNorm biases (their scales are frozen)
    factors = []
    for _ in range(100):
        factors.append(sched.get_last_lr()[1] / sched.base_lrs[1])
        opt.step()
        sched.step()
    assert factors[0] == pytest.approx(0.2) and max(factors) == pytest.approx(1.0)
    assert factors.index(max(factors)) == 23 and factors[-1] == pytest.approx(1 - 0.93 * 76 / 77)


def test_04b_lookahead_pulls_the_weights_towards_the_slow_copy_and_ends_on_it():
    nb = notebook_code.definitions("04b", "Lookahead")
    model = nn.Linear(2, 1)
    start = model.weight.detach().clone()
    look = nb.Lookahead(model, total_steps=10, every=5)
    with torch.no_grad():
        model.weight.add_(1.0)
    look(3)  # not a multiple of every: nothing happens
    assert torch.equal(model.weight, start + 1)
    look(5)
    decay = 0.95**5 * 0.5**3
    assert torch.allclose(model.weight, start + (1 - decay))
    with torch.no_grad():
        model.weight.add_(5.0)
    look(10)  # the last step returns to the slow weights
    assert torch.allclose(model.weight, start + (1 - decay))
