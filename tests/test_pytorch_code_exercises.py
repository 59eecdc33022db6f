"""Week 3 code exercises: what the generic answer tests (test_exercise_answers.py) do not show.

The registered wrong and right answers of week03 (train_one_epoch, evaluate) and week03b (best_epoch,
suggest_lr, dropout by hand) are checked there; here, the behaviours a learner relies on besides: hidden cases
that vary what a learner could hard-code, a session left as it was, and the notebook's random state untouched.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course.exercises import week03, week03b


def _said(capsys) -> str:
    return capsys.readouterr().out


def test_train_one_epoch_that_hard_codes_the_loss_or_makes_its_own_optimizer_is_refused(capsys):
    def hard_coded_loss(model, loader, loss_fn, optimizer):
        return week03.train_one_epoch(model, loader, F.cross_entropy, optimizer)

    assert not week03.q5.check(hard_coded_loss)
    assert "use the loss_fn and the optimizer you are given" in _said(capsys)

    def own_optimizer(model, loader, loss_fn, optimizer):
        return week03.train_one_epoch(model, loader, loss_fn, torch.optim.SGD(model.parameters(), lr=0.1))

    assert not week03.q5.check(own_optimizer)
    assert "weights differ from the reference" in _said(capsys)


def test_a_stub_that_still_raises_is_not_answered_yet(capsys):
    def stub(*args):
        raise NotImplementedError

    for exercise in (week03.q5, week03.q6, week03b.q1, week03b.q2, week03b.q3):
        assert not exercise.check(stub)
        assert "not answered yet" in _said(capsys)


def test_evaluate_that_switches_gradients_off_for_good_is_refused_and_the_session_restored(capsys):
    def no_grad_forever(model, loader):
        torch.set_grad_enabled(False)
        return week03.evaluate(model, loader)

    assert not week03.q6.check(no_grad_forever)
    assert "left gradients switched off" in _said(capsys)
    assert torch.is_grad_enabled()


@pytest.mark.parametrize(("change", "words"), [
    (lambda: torch.set_num_threads(1 if torch.get_num_threads() > 1 else 2), "CPU threads"),
    (lambda: torch.use_deterministic_algorithms(True), "deterministic algorithms"),
    (lambda: torch.autograd.set_detect_anomaly(True), "anomaly detection"),
])
def test_other_session_settings_left_changed_are_named_and_restored(change, words, capsys):
    before = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(), torch.is_anomaly_enabled())

    def evaluate_and_change(model, loader):
        change()
        return week03.evaluate(model, loader)

    assert not week03.q6.check(evaluate_and_change)
    assert words in _said(capsys)
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(), torch.is_anomaly_enabled()) == before


def test_evaluate_that_skips_a_batch_is_told_how_many_batches_ran(capsys):
    def first_batch_only(model, loader):
        was_training = model.training
        model.eval()
        with torch.no_grad():
            X, y = next(iter(loader))
            accuracy = (model(X).argmax(1) == y).float().mean().item()
        model.train(was_training)
        return accuracy

    assert not week03.q6.check(first_batch_only)
    assert "the model ran on 1 of the 3 batches" in _said(capsys)


def test_the_checkers_leave_the_notebooks_random_state_alone(capsys):
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    for exercise, answer in ((week03.q5, week03.train_one_epoch), (week03.q6, week03.evaluate),
                             (week03b.q3, week03b.dropout)):
        assert exercise.check(answer)
        assert torch.equal(torch.get_rng_state(), before), f"{exercise.name} changed the global random state"


def test_dropout_that_reuses_one_mask_or_keeps_the_wrong_share_is_named(capsys):
    def same_mask_every_call(x, p, training):
        if not training:
            return x
        g = torch.Generator().manual_seed(0)
        return x * (torch.rand(x.shape, generator=g, dtype=x.dtype) >= p) / (1 - p)

    assert not week03b.q3.check(same_mask_every_call)
    assert "draw a new random mask at every call" in _said(capsys)

    def fixed_half(x, p, training):
        return week03b.dropout(x, 0.5, training)

    assert not week03b.q3.check(fixed_half)
    assert "with p=0.2 expected about 20%" in _said(capsys)


def test_best_epoch_accepts_lists_arrays_and_tensors_and_returns_the_same_epoch():
    history = [1.0, 0.8, 0.7, 0.72, 0.75, 0.71, 0.74, 0.6, 0.9]
    for form in (history, np.array(history), torch.tensor(history)):
        assert week03b.best_epoch(form, 2) == 2  # stopped at epoch 4: the 0.6 of epoch 7 was never trained
    assert week03b.best_epoch(history, 10) == 7
