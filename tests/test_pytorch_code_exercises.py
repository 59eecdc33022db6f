"""Week 3 code exercises: the evaluation loop and the nn.Module, with typical wrong implementations."""

from __future__ import annotations

import torch
from torch import nn

from course.exercises import week03


def _said(capsys) -> str:
    return capsys.readouterr().out


def _count(model, loader, device=None):
    correct = total = 0
    for X, y in loader:
        correct += (model(X).argmax(1) == y).sum().item()
        total += len(y)
    return correct / total


def test_evaluation_loop_reference_and_inference_mode_pass(capsys):
    assert week03.q5.kind == "code"
    assert week03.q5.check(week03.accuracy)

    def with_inference_mode(model, loader):
        model.eval()
        with torch.inference_mode():
            return _count(model, loader)

    assert week03.q5.check(with_inference_mode)


def test_evaluation_loop_without_eval_says_dropout_is_on(capsys):
    def forgot_eval(model, loader):
        with torch.no_grad():
            return _count(model, loader)

    assert not week03.q5.check(forgot_eval)
    assert "still in training mode: dropout is on" in _said(capsys)


def test_evaluation_loop_without_no_grad_says_gradients_are_recorded(capsys):
    def forgot_no_grad(model, loader):
        model.eval()
        return _count(model, loader)

    assert not week03.q5.check(forgot_no_grad)
    assert "gradients are being recorded" in _said(capsys)


def test_evaluation_loop_averaging_batch_accuracies_or_counting_is_named(capsys):
    def mean_of_batches(model, loader):
        model.eval()
        with torch.no_grad():
            accs = [(model(X).argmax(1) == y).float().mean().item() for X, y in loader]
        return sum(accs) / len(accs)

    assert not week03.q5.check(mean_of_batches)
    assert "averaged the per-batch accuracies" in _said(capsys)

    def count_only(model, loader):
        model.eval()
        with torch.no_grad():
            return sum((model(X).argmax(1) == y).sum().item() for X, y in loader)

    assert not week03.q5.check(count_only)
    assert "number of correct predictions" in _said(capsys)


class _Base(nn.Module):
    def __init__(self, *layers):
        super().__init__()
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def test_module_reference_passes_and_a_stub_is_not_answered(capsys):
    assert week03.q6.kind == "code"
    assert week03.q6.check(week03.q6.solve())

    class Stub(nn.Module):
        def __init__(self, n_in, n_hidden, n_out, p_drop=0.5):
            super().__init__()
            raise NotImplementedError

    assert not week03.q6.check(Stub)
    assert "not answered yet" in _said(capsys)


def test_module_without_activation_is_called_linear(capsys):
    class NoReLU(_Base):
        def __init__(self, n_in, n_hidden, n_out, p_drop=0.5):
            super().__init__(nn.Flatten(), nn.Linear(n_in, n_hidden), nn.Dropout(p_drop), nn.Linear(n_hidden, n_out))

    assert not week03.q6.check(NoReLU)
    assert "no activation between the layers" in _said(capsys)


def test_module_with_softmax_or_without_flatten_or_dropout_is_named(capsys):
    class Softmaxed(_Base):
        def __init__(self, n_in, n_hidden, n_out, p_drop=0.5):
            super().__init__(nn.Flatten(), nn.Linear(n_in, n_hidden), nn.ReLU(), nn.Dropout(p_drop),
                             nn.Linear(n_hidden, n_out), nn.Softmax(dim=1))

    assert not week03.q6.check(Softmaxed)
    assert "you applied softmax" in _said(capsys)

    class NotFlattened(_Base):
        def __init__(self, n_in, n_hidden, n_out, p_drop=0.5):
            super().__init__(nn.Linear(n_in, n_hidden), nn.ReLU(), nn.Dropout(p_drop), nn.Linear(n_hidden, n_out))

    assert not week03.q6.check(NotFlattened)
    assert "Flatten each image first" in _said(capsys)

    class NoDropout(_Base):
        def __init__(self, n_in, n_hidden, n_out, p_drop=0.5):
            super().__init__(nn.Flatten(), nn.Linear(n_in, n_hidden), nn.ReLU(), nn.Linear(n_hidden, n_out))

    assert not week03.q6.check(NoDropout)
    assert "there is no dropout" in _said(capsys)

    assert not week03.q6.check(NoDropout(12, 16, 3))
    assert "pass your class itself" in _said(capsys)
