"""Week 4 exercises: each reference passes, and typical wrong implementations get the message meant for them."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from course.exercises import week04a, week04b
from helpers import data


def _says(capsys, text: str) -> None:
    out = capsys.readouterr().out
    assert "not yet" in out and text in out, out


def test_week04a_value_mistakes_get_specific_feedback(capsys):
    assert not week04a.q1.check(6.57e6 * 4 / 2**20)
    _says(capsys, "only the weights")
    assert not week04a.q1.check(6.57e6 * 16 / 2**20)
    _says(capsys, "Adam")
    assert not week04a.q2.check(2.0**-24)
    _says(capsys, "without a GradScaler")
    assert not week04a.q2.check(2.0**-8)
    _says(capsys, "You multiplied")
    assert week04a.q2.check(9.1e-13)
    assert not week04a.q3.check(1408)
    _says(capsys, "fixed")
    assert not week04a.q4.check(1234)
    _says(capsys, "from scratch")
    assert not week04a.q4.check(16)
    _says(capsys, "next save")
    assert week04a.q4.check(34)


class _Stub(nn.Module):
    def __init__(self, c_in, c_out, stride=1):
        raise NotImplementedError


def _block(forward, conv_bias=False, identity_shortcut=False):
    """A BasicBlock with the reference layers and a given (possibly wrong) forward."""

    class Block(week04a.BasicBlock):
        def __init__(self, c_in, c_out, stride=1):
            super().__init__(c_in, c_out, stride)
            if conv_bias:
                self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)
            if identity_shortcut:
                self.shortcut = nn.Identity()

    Block.forward = forward
    return Block


def test_residual_block_exercise_names_the_typical_mistakes(capsys):
    assert week04a.q5.check(week04a.BasicBlock)
    assert not week04a.q5.check(_Stub)
    assert "not answered yet" in capsys.readouterr().out
    no_skip = _block(lambda b, x: F.relu(b.bn2(b.conv2(F.relu(b.bn1(b.conv1(x)))))))
    assert not week04a.q5.check(no_skip)
    _says(capsys, "skip connection is missing")
    relu_before_add = _block(lambda b, x: F.relu(b.bn2(b.conv2(F.relu(b.bn1(b.conv1(x)))))) + b.shortcut(x))
    assert not week04a.q5.check(relu_before_add)
    _says(capsys, "last ReLU belongs after the addition")
    bn_after_relu = _block(lambda b, x: F.relu(b.conv2(b.bn1(F.relu(b.conv1(x)))) + b.shortcut(x)))
    assert not week04a.q5.check(bn_after_relu)
    _says(capsys, "BatchNorm goes right after each convolution")
    assert not week04a.q5.check(_block(week04a.BasicBlock.forward, conv_bias=True))
    _says(capsys, "bias=False")
    assert not week04a.q5.check(_block(week04a.BasicBlock.forward, identity_shortcut=True))
    _says(capsys, "missing: ['shortcut.0.weight'")
    assert not week04a.q5.check(week04a.BasicBlock(4, 4))
    _says(capsys, "pass your class itself")


def test_batch_norm_exercise_matches_pytorch_and_names_the_typical_mistakes(capsys):
    x = torch.randn(4, 3, 5, 5)
    gamma, beta = torch.rand(3), torch.randn(3)
    torch.testing.assert_close(week04a.batch_norm_train(x, gamma, beta),
                               F.batch_norm(x, None, None, gamma, beta, training=True), rtol=1e-5, atol=1e-5)
    assert week04a.q6.check(week04a.batch_norm_train)

    def per_image(x, gamma, beta, eps=1e-5):
        m, v = x.mean((1, 2, 3), keepdim=True), x.var((1, 2, 3), unbiased=False, keepdim=True)
        return (x - m) / (v + eps).sqrt() * gamma.view(1, -1, 1, 1) + beta.view(1, -1, 1, 1)

    def unbiased(x, gamma, beta, eps=1e-5):
        m, v = x.mean((0, 2, 3), keepdim=True), x.var((0, 2, 3), keepdim=True)
        return (x - m) / (v + eps).sqrt() * gamma.view(1, -1, 1, 1) + beta.view(1, -1, 1, 1)

    def no_eps(x, gamma, beta, eps=1e-5):
        m, s = x.mean((0, 2, 3), keepdim=True), x.std((0, 2, 3), unbiased=False, keepdim=True)
        return (x - m) / s * gamma.view(1, -1, 1, 1) + beta.view(1, -1, 1, 1)

    for wrong, message in ((per_image, "each image on its own"), (unbiased, "unbiased variance"),
                           (no_eps, "eps is missing")):
        assert not week04a.q6.check(wrong)
        _says(capsys, message)


def test_shift_and_flip_reference_is_what_the_course_loader_does():
    x = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8)
    shifts = torch.randint(-2, 3, (6, 2))
    flip = torch.tensor([True, False, True, True, False, False])
    assert torch.equal(week04b.shift_and_flip(x, shifts, flip), data.batch_shift_flip(x, shifts, flip))


def test_shift_and_flip_exercise_names_the_typical_mistakes(capsys):
    assert week04b.q3.check(week04b.shift_and_flip)

    def every_image(x, shifts, flip):
        return week04b.shift_and_flip(x, shifts, torch.ones_like(flip))

    def zeros(x, shifts, flip):
        r = int(shifts.abs().max())
        padded, (h, w) = F.pad(x, (r,) * 4), x.shape[-2:]
        out = torch.stack([padded[i, :, r - dy:r - dy + h, r - dx:r - dx + w]
                           for i, (dy, dx) in enumerate(shifts.tolist())])
        return torch.where(flip.view(-1, 1, 1, 1), out.flip(-1), out)

    def up_down(x, shifts, flip):
        out = week04b.shift_and_flip(x, shifts, torch.zeros_like(flip))
        return torch.where(flip.view(-1, 1, 1, 1), out.flip(-2), out)

    def as_float(x, shifts, flip):
        return week04b.shift_and_flip(x.float(), shifts, flip)

    for wrong, message in ((every_image, "mirrored every image"), (zeros, "the edges are zeros"),
                           (up_down, "up-down flip"), (as_float, "keep the input's dtype")):
        assert not week04b.q3.check(wrong)
        _says(capsys, message)


def test_label_smoothing_exercise_matches_pytorch_and_names_the_typical_mistakes(capsys):
    logits, y = torch.randn(6, 10), torch.randint(0, 10, (6,))
    torch.testing.assert_close(week04b.smoothed_cross_entropy(logits, y, 0.2),
                               F.cross_entropy(logits, y, label_smoothing=0.2))
    assert week04b.q4.check(week04b.smoothed_cross_entropy)

    def wrong_classes_only(logits, y, s):
        k = logits.shape[-1]
        one = F.one_hot(y, k).float()
        return -((one * (1 - s) + (1 - one) * s / (k - 1)) * F.log_softmax(logits, -1)).sum(-1).mean()

    def summed(logits, y, s):
        return F.cross_entropy(logits, y, label_smoothing=s, reduction="sum")

    def naive_log(logits, y, s):
        k = logits.shape[-1]
        q = F.one_hot(y, k).float() * (1 - s) + s / k
        return -(q * torch.softmax(logits, -1).log()).sum(-1).mean()

    for wrong, message in ((wrong_classes_only, "K - 1 wrong classes"), (summed, "summed over the batch"),
                           (naive_log, "use F.log_softmax")):
        assert not week04b.q4.check(wrong)
        _says(capsys, message)


def test_week04b_value_mistakes_get_specific_feedback(capsys):
    assert not week04b.q1.check(0.9)
    _says(capsys, "true one included")
    assert week04b.q1.check(0.901)
    assert not week04b.q2.check(3)
    _says(capsys, "square root")
    assert not week04b.q2.check(25)
    _says(capsys, "not the fewest")
    assert week04b.q2.check(9)


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
