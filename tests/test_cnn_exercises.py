"""Week 4 exercises: each reference is what PyTorch (or the course's loader) computes, and the checkers judge code.

Every registered wrong answer (refused, with its explanation) and right answer in another style (accepted) is
checked by the generic tests/test_exercise_answers.py; this file checks the references themselves and what the
generic test cannot see.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from course.exercises import week04a, week04b
from helpers import data


def test_batch_norm_reference_is_what_pytorch_computes_in_training_mode():
    x = torch.randn(4, 3, 5, 5, dtype=torch.float64)
    gamma, beta = torch.rand(3, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    for eps in (1e-5, 0.1):
        torch.testing.assert_close(week04a.batch_norm_train(x, gamma, beta, eps),
                                   F.batch_norm(x, None, None, gamma, beta, training=True, eps=eps))


def test_residual_block_reference_matches_torchvisions_basic_block():
    from torchvision.models.resnet import BasicBlock as TorchvisionBlock

    for c_in, c_out, stride in ((8, 8, 1), (4, 8, 2)):
        mine = week04a.BasicBlock(c_in, c_out, stride).eval()
        downsample = mine.shortcut if isinstance(mine.shortcut, nn.Sequential) else None
        theirs = TorchvisionBlock(c_in, c_out, stride, downsample=downsample).eval()
        theirs.load_state_dict({k.replace("shortcut", "downsample"): v for k, v in mine.state_dict().items()})
        x = torch.randn(2, c_in, 8, 8)
        torch.testing.assert_close(mine(x), theirs(x))


def test_the_residual_block_checker_says_not_answered_for_the_stub(capsys):
    class Stub(nn.Module):
        def __init__(self, c_in, c_out, stride=1):
            raise NotImplementedError

    assert not week04a.q5.check(Stub)
    assert "not answered yet" in capsys.readouterr().out


def test_the_batch_norm_checker_varies_every_argument():
    cases = week04a._bn_cases()
    shapes = {tuple(c.args[0].shape) for c in cases}
    assert len({s[1] for s in shapes}) >= 3 and len({s[0] for s in shapes}) >= 3  # channels and batch sizes vary
    assert {c.args[0].dtype for c in cases} == {torch.float32, torch.float64}
    eps = {c.kwargs.get("eps", c.args[3] if len(c.args) > 3 else 1e-5) for c in cases}
    assert len(eps) >= 3  # the default, a keyword, a positional value


def test_shift_and_flip_reference_is_what_the_course_loader_does():
    x = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8)
    shifts = torch.randint(-2, 3, (6, 2))
    flip = torch.tensor([True, False, True, True, False, False])
    assert torch.equal(week04b.shift_and_flip(x, shifts, flip), data.batch_shift_flip(x, shifts, flip))


def test_label_smoothing_reference_matches_pytorch_and_keeps_the_gradient():
    logits, y = torch.randn(6, 10, requires_grad=True), torch.randint(0, 10, (6,))
    loss = week04b.smoothed_cross_entropy(logits, y, 0.2)
    torch.testing.assert_close(loss, F.cross_entropy(logits, y, label_smoothing=0.2))
    loss.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_each_week4_notebook_has_two_code_exercises():
    for module in (week04a, week04b):
        kinds = [ex.kind for ex in vars(module).values() if isinstance(ex, week04a.Exercise)]
        assert kinds.count("code") == 2, (module.NOTEBOOK, kinds)


def test_every_week4_exercise_names_an_objective_of_its_notebook():
    from course import syllabus

    objectives = {nb.id: nb.objectives for nb in syllabus.load().notebooks}
    for module in (week04a, week04b):
        for ex in vars(module).values():
            if isinstance(ex, week04a.Exercise):
                assert ex.objective in objectives[module.NOTEBOOK], (module.NOTEBOOK, ex.name)
