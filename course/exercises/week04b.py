"""Exercises for week 4b, "CIFAR-10 speedrun": label smoothing, judging a mean, batch augmentation."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from course.exercises import Case, Exercise, as_number, differs, near, same_as
from course.syllabus import objective
from helpers.data import batch_shift_flip

NOTEBOOK = "04b-cifar10-speedrun"
BATCH_AUG = objective(NOTEBOOK, "Hold the dataset")
TRICKS = objective(NOTEBOOK, "Apply label smoothing,")
JUDGE = objective(NOTEBOOK, "Judge 94% over")


def _q1_solve() -> float:
    return 1 - 0.1 + 0.1 / 100  # label smoothing 0.1 over CIFAR-100's 100 classes: the true class's target


q1 = Exercise(
    "q1",
    "On CIFAR-100 (100 classes) with label_smoothing=0.1, what target probability does PyTorch's "
    "cross-entropy give the true class?",
    near(_q1_solve(), rel=1e-6, mistakes={
        0.9: "The smoothing mass 0.1 is spread over all 100 classes, the true one included.",
        1 - 0.1 + 0.1 / 99: "PyTorch spreads the mass over all 100 classes (0.1/100 each), not the 99 wrong ones.",
        0.1 / 100: "That is the target of each wrong class; the true class gets 0.9 plus its share.",
        1 - 0.1 + 0.1 / 10: "That is for CIFAR-10's 10 classes; CIFAR-100 spreads 0.1 over 100: 0.9 + 0.1 / 100.",
        100 * _q1_solve(): "That is a percentage; give the probability, between 0 and 1.",
        1 - 0.1 / 100: "Smoothing first scales the one-hot target by 1 - 0.1 = 0.9, then adds 0.1 / 100 to every "
                       "class: 0.9 + 0.001.",
        0.1: "That is the smoothing itself, the mass spread over all classes; the true class keeps 0.9 plus its share.",
    }),
    "PyTorch mixes the one-hot target with the uniform distribution: (1 - s) * one_hot + s / classes.",
    _q1_solve,
    objective=TRICKS,
    wrong=((0.9, "the true one included"), (0.91, "CIFAR-10"), (90.1, "percentage"), (0.999, "scales the one-hot"),
           ("0.901", "expected a number")),
    right=(0.901, torch.tensor(0.901)),
)


def _q2_solve() -> int:
    return math.ceil((0.15 / 0.05) ** 2)  # the standard error of a mean of n runs is std / sqrt(n)


def _q2_check(answer: Any) -> str | None:
    value = as_number(answer)
    if value is None:
        return f"expected a number of runs, got {type(answer).__name__}."
    if value == _q2_solve():
        return None
    if value != int(value):
        return f"{value:g} is not a whole number of runs: round up to the next whole run."
    if value < 1:
        return f"{value:g} runs cannot measure anything: solve 0.15 / sqrt(n) <= 0.05 for n."
    if value == 3:
        return "3 runs shrink it by sqrt(3), not 3: the standard error falls with the square root of n."
    if value > _q2_solve():
        return f"{value:g} runs is enough, but not the fewest: solve 0.15 / sqrt(n) <= 0.05."
    return f"{value:g} runs leave a standard error of {0.15 / math.sqrt(max(value, 1)):.3f} %: too large."


q2 = Exercise(
    "q2",
    "One run's accuracy varies from seed to seed with a standard deviation of about 0.15 percentage points. "
    "How many runs (seeds) must you average before the standard error of the mean is at most 0.05 points?",
    _q2_check,
    "The standard error of a mean of n independent runs is std / sqrt(n).",
    _q2_solve,
    objective=JUDGE,
    wrong=((3, "square root"), (25, "not the fewest"), (8, "too large"), ("nine", "expected a number"),
           (8.5, "whole number"), (0, "cannot measure"), (81, "not the fewest")),
    right=(9.0, torch.tensor(9)),
)


# ---------------------------------------------------------------- q3: batch flip and translate (code)
def shift_and_flip(x: torch.Tensor, shifts: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Shift image i by shifts[i] = (dy, dx) pixels (edges filled by reflection), then mirror it if flip[i]."""
    r = int(shifts.abs().max())
    padded = F.pad(x, (r, r, r, r), mode="reflect") if r else x
    h, w = x.shape[-2:]
    out = torch.stack([padded[i, :, r - dy:r - dy + h, r - dx:r - dx + w] for i, (dy, dx) in enumerate(shifts.tolist())])
    return torch.where(flip.view(-1, 1, 1, 1), out.flip(-1), out)


def _sf_all_mirrored(x, shifts, flip):
    return shift_and_flip(x, shifts, torch.ones_like(flip))


def _sf_up_down(x, shifts, flip):
    out = shift_and_flip(x, shifts, torch.zeros_like(flip))
    return torch.where(flip.view(-1, 1, 1, 1), out.flip(-2), out)


def _sf_zeros(x, shifts, flip):
    r = int(shifts.abs().max())
    padded = F.pad(x, (r, r, r, r))
    h, w = x.shape[-2:]
    out = torch.stack([padded[i, :, r - dy:r - dy + h, r - dx:r - dx + w] for i, (dy, dx) in enumerate(shifts.tolist())])
    return torch.where(flip.view(-1, 1, 1, 1), out.flip(-1), out)


def _sf_reversed(x, shifts, flip):
    return shift_and_flip(x, -shifts, flip)


def _sf_swapped(x, shifts, flip):
    return shift_and_flip(x, shifts.flip(-1), flip)


def _sf_mirror_first(x, shifts, flip):
    mirrored = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    return shift_and_flip(mirrored, shifts, torch.zeros_like(flip))


def _sf_one_shift(x, shifts, flip):
    return shift_and_flip(x, shifts[:1].expand_as(shifts), flip)


def _sf_roll(x, shifts, flip):
    out = torch.stack([img.roll((dy, dx), dims=(-2, -1)) for img, (dy, dx) in zip(x, shifts.tolist(), strict=True)])
    return torch.where(flip.view(-1, 1, 1, 1), out.flip(-1), out)


def _sf_replicate(x, shifts, flip):
    r = int(shifts.abs().max())
    padded = F.pad(x.double(), (r, r, r, r), mode="replicate").to(x.dtype)
    h, w = x.shape[-2:]
    out = torch.stack([padded[i, :, r - dy:r - dy + h, r - dx:r - dx + w] for i, (dy, dx) in enumerate(shifts.tolist())])
    return torch.where(flip.view(-1, 1, 1, 1), out.flip(-1), out)


def _sf_no_shift(x, shifts, flip):
    return shift_and_flip(x, torch.zeros_like(shifts), flip)


def _sf_no_mirror(x, shifts, flip):
    return shift_and_flip(x, shifts, torch.zeros_like(flip))


def _sf_mirror_inverted(x, shifts, flip):
    return shift_and_flip(x, shifts, ~flip)


def _sf_both_axes(x, shifts, flip):
    out = shift_and_flip(x, shifts, torch.zeros_like(flip))
    return torch.where(flip.view(-1, 1, 1, 1), out.flip(-2, -1), out)


def _sf_as_float(x, shifts, flip):
    return shift_and_flip(x.float(), shifts, flip)


def _sf_loop(x, shifts, flip):
    """Right, in another style: one image at a time, each output pixel's source row and column by hand."""
    n, _, h, w = x.shape
    out = torch.empty_like(x)

    def source(i, size):  # reflect an index that fell off the edge back inside
        i = abs(i)
        return 2 * (size - 1) - i if i >= size else i

    for k in range(n):
        dy, dx = int(shifts[k][0]), int(shifts[k][1])
        rows = [source(r - dy, h) for r in range(h)]
        cols = [source(c - dx, w) for c in range(w)]
        if bool(flip[k]):
            cols = cols[::-1]
        out[k] = x[k][:, rows][:, :, cols]
    return out


def _sf_with_the_course_loader(x, shifts, flip):
    return batch_shift_flip(x, shifts, flip)  # helpers.data: the one gather that TensorLoader runs


def _same_dtype_and_values(got: Any, expected: torch.Tensor) -> str | None:
    if not isinstance(got, torch.Tensor):
        return f"expected a torch tensor like x, got {type(got).__name__}: keep the batch a tensor (no .numpy())."
    if got.dtype != expected.dtype:
        return f"the batch came in as {expected.dtype} and went out as {got.dtype}: keep the input's dtype."
    return differs(got, expected, rtol=1e-5, atol=1e-5)


def _sf_cases() -> list[Case]:
    g = torch.Generator().manual_seed(5)
    u8 = torch.randint(0, 256, (4, 3, 6, 6), generator=g, dtype=torch.uint8)
    shifts = torch.tensor([[1, -2], [0, 0], [-2, 1], [2, 2]])
    return [
        Case("4 uint8 images, shifts (1,-2), (0,0), (-2,1), (2,2), mirrored: no, yes, no, yes",
             (u8, shifts, torch.tensor([False, True, False, True]))),
        Case("3 float images of 5x7 pixels, each shifted differently, all mirrored",
             (torch.randn(3, 2, 5, 7, generator=g), torch.tensor([[-1, 2], [0, 1], [2, -1]]),
              torch.tensor([True, True, True]))),
        Case("2 uint8 images, no shift and no mirror (the batch must come back unchanged)",
             (u8[:2].clone(), torch.zeros(2, 2, dtype=torch.long), torch.tensor([False, False]))),
        Case("5 float64 images of 1 channel, 4x4 pixels, int32 shifts of 1 at most, mirrored: yes, no, no, yes, no",
             (torch.randn(5, 1, 4, 4, generator=g, dtype=torch.float64),
              torch.tensor([[1, 0], [0, -1], [-1, 1], [1, 1], [0, 0]], dtype=torch.int32),
              torch.tensor([True, False, False, True, False]))),
    ]


q3 = Exercise(
    "q3",
    "Write shift_and_flip(x, shifts, flip) for a whole batch x (N x C x H x W, uint8 or float): shift image i "
    "by shifts[i] = (dy, dx) pixels (positive dy moves it down, positive dx right; at most 2), filling the edges "
    "by reflection, then mirror it left-right if flip[i] is True. Keep the dtype.",
    same_as(shift_and_flip, _sf_cases, compare=_same_dtype_and_values, mistakes=[
        (_sf_all_mirrored, "you mirrored every image: mirror only those where flip[i] is True."),
        (_sf_up_down, "that is an up-down flip: a left-right mirror reverses the last dimension, x.flip(-1)."),
        (_sf_zeros, "the edges are zeros: fill them by reflection, F.pad(x, (r, r, r, r), mode='reflect')."),
        (_sf_reversed, "the images moved the wrong way: positive dy must move the picture down "
                       "(output row y shows input row y - dy)."),
        (_sf_swapped, "dy and dx are swapped: shifts[i, 0] moves rows (height), shifts[i, 1] columns (width)."),
        (_sf_mirror_first, "you mirrored before shifting: shift first, then mirror (a mirrored shift moves "
                           "the other way)."),
        (_sf_one_shift, "every image got the first image's shift: each image has its own (dy, dx)."),
        (_sf_roll, "torch.roll wraps the pixels that leave one edge around to the other: fill the edges by "
                   "reflection instead."),
        (_sf_as_float, "you converted the batch to float: keep the input's dtype (uint8 stays uint8)."),
        (_sf_replicate, "the edges repeat the border pixel (mode='replicate'): fill them by reflection, "
                        "mode='reflect', which mirrors the pixels next to the border."),
        (_sf_no_shift, "no image was shifted: move image i by shifts[i] = (dy, dx) pixels before mirroring it."),
        (_sf_no_mirror, "no image was mirrored: mirror image i left-right where flip[i] is True."),
        (_sf_mirror_inverted, "you mirrored the images where flip[i] is False: mirror those where it is True."),
        (_sf_both_axes, "you flipped both axes (a 180-degree turn): a left-right mirror reverses only the last "
                        "dimension, x.flip(-1)."),
    ], alternatives=[_sf_loop, _sf_with_the_course_loader]),
    "Pad the whole batch once by r = the largest |shift| with mode='reflect', crop each image's window "
    "padded[i, :, r - dy : r - dy + H, r - dx : r - dx + W], stack, then torch.where(flip.view(-1, 1, 1, 1), "
    "out.flip(-1), out).",
    lambda: shift_and_flip,
    objective=BATCH_AUG,
)


# ---------------------------------------------------------------- q4: label-smoothed cross-entropy (code)
def smoothed_cross_entropy(logits: torch.Tensor, y: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Mean over the batch of -sum_k q_k log p_k, with q = (1 - s) * one_hot(y) + s / K."""
    log_p = F.log_softmax(logits.float(), dim=-1)
    k = logits.shape[-1]
    target = F.one_hot(y, k).float() * (1 - smoothing) + smoothing / k
    return -(target * log_p).sum(-1).mean()


def _ls_wrong_classes_only(logits, y, smoothing):
    k = logits.shape[-1]
    target = F.one_hot(y, k).float() * (1 - smoothing) + (1 - F.one_hot(y, k).float()) * smoothing / (k - 1)
    return -(target * F.log_softmax(logits.float(), -1)).sum(-1).mean()


def _ls_summed(logits, y, smoothing):
    return smoothed_cross_entropy(logits, y, smoothing) * len(y)


def _ls_no_smoothing(logits, y, smoothing):
    return F.cross_entropy(logits.float(), y)


def _ls_no_log_softmax(logits, y, smoothing):
    k = logits.shape[-1]
    target = F.one_hot(y, k).float() * (1 - smoothing) + smoothing / k
    return -(target * logits.float()).sum(-1).mean()


def _ls_naive_log(logits, y, smoothing):
    k = logits.shape[-1]
    target = F.one_hot(y, k).float() * (1 - smoothing) + smoothing / k
    return -(target * torch.log(torch.softmax(logits.float(), -1))).sum(-1).mean()


def _ls_item(logits, y, smoothing):
    return smoothed_cross_entropy(logits, y, smoothing).item()


def _ls_rebuilt(logits, y, smoothing):
    return torch.tensor(smoothed_cross_entropy(logits, y, smoothing).item())


def _ls_per_example(logits, y, smoothing):
    k = logits.shape[-1]
    target = F.one_hot(y, k).float() * (1 - smoothing) + smoothing / k
    return -(target * F.log_softmax(logits.float(), -1)).sum(-1)


def _ls_ten_classes(logits, y, smoothing):
    target = F.one_hot(y, logits.shape[-1]).float() * (1 - smoothing) + smoothing / 10
    return -(target * F.log_softmax(logits.float(), -1)).sum(-1).mean()


def _ls_mean_over_classes_too(logits, y, smoothing):
    k = logits.shape[-1]
    target = F.one_hot(y, k).float() * (1 - smoothing) + smoothing / k
    return -(target * F.log_softmax(logits.float(), -1)).mean()


def _ls_sign(logits, y, smoothing):
    return -smoothed_cross_entropy(logits, y, smoothing)


def _ls_one_hot_not_scaled(logits, y, smoothing):
    k = logits.shape[-1]
    target = F.one_hot(y, k).float() + smoothing / k
    return -(target * F.log_softmax(logits.float(), -1)).sum(-1).mean()


def _ls_kl(logits, y, smoothing):
    k = logits.shape[-1]
    target = F.one_hot(y, k).float() * (1 - smoothing) + smoothing / k
    return F.kl_div(F.log_softmax(logits.float(), -1), target, reduction="batchmean")


def _ls_with_the_library(logits, y, smoothing):
    return F.cross_entropy(logits, y, label_smoothing=smoothing)


def _ls_two_terms(logits, y, smoothing):
    """Right, in another style: (1 - s) x the plain loss + s x the mean of -log p over the classes, gathered."""
    log_p = torch.log_softmax(logits.double(), dim=1)
    nll = -log_p.gather(1, y[:, None]).squeeze(1)
    uniform = -log_p.mean(dim=1)
    return ((1 - smoothing) * nll + smoothing * uniform).mean()


def _loss_tensor(got: Any, expected: torch.Tensor) -> str | None:
    """A loss must stay a 0-d tensor connected to the logits, so that backward() can start from it."""
    if not isinstance(got, torch.Tensor):
        return (f"expected the loss as a 0-d tensor, got {type(got).__name__}: return the tensor itself, without "
                ".item() or float(...), so that backward() can start from it.")
    if got.ndim != 0:
        return f"expected one number, the mean over the batch (a 0-d tensor), got shape {tuple(got.shape)}."
    if expected.requires_grad and not got.requires_grad:
        return ("your loss is cut off from the logits (torch.tensor(...), .detach() or .item() inside?): backward() "
                "could not reach the network. Build it from logits with tensor operations only.")
    return differs(got, expected, rtol=1e-4, atol=1e-5)


def _ls_cases() -> list[Case]:
    g = torch.Generator().manual_seed(6)
    return [
        Case("5 examples, 10 classes, smoothing 0.2", (torch.randn(5, 10, generator=g) * 3,
                                                        torch.tensor([0, 3, 9, 3, 7]), 0.2)),
        Case("3 examples, 4 classes, smoothing 0 (plain cross-entropy)", (torch.randn(3, 4, generator=g),
                                                                           torch.tensor([1, 0, 3]), 0.0)),
        Case("2 examples with huge logits (+-200), smoothing 0.1",
             (torch.tensor([[200.0, 0.0, -200.0], [-200.0, 200.0, 0.0]]), torch.tensor([0, 2]), 0.1)),
        Case("4 examples, 6 classes, smoothing 0.3, logits that require gradients (the loss must reach them)",
             (torch.randn(4, 6, generator=g).requires_grad_(), torch.tensor([5, 0, 2, 2]), 0.3)),
        Case("2 float64 examples, 5 classes, smoothing 0.05", (torch.randn(2, 5, generator=g, dtype=torch.float64),
                                                               torch.tensor([4, 1]), 0.05)),
    ]


q4 = Exercise(
    "q4",
    "Write smoothed_cross_entropy(logits, y, smoothing) from scratch (no label_smoothing= argument): the mean "
    "over the batch of -sum_k q_k log softmax(logits)_k, where q is the one-hot target mixed with the uniform "
    "distribution over all K classes, as F.cross_entropy(logits, y, label_smoothing=smoothing) does.",
    same_as(smoothed_cross_entropy, _ls_cases, compare=_loss_tensor, mistakes=[
        (_ls_no_smoothing, "the smoothing is missing: that is plain cross-entropy."),
        (_ls_wrong_classes_only, "you spread the smoothing over the K - 1 wrong classes; PyTorch gives every "
                                 "class, the true one included, smoothing / K."),
        (_ls_summed, "you summed over the batch: take the mean, as F.cross_entropy does by default."),
        (_ls_no_log_softmax, "you used the raw logits as log-probabilities: take F.log_softmax(logits, -1) first."),
        (_ls_naive_log, "log(softmax(z)) underflows to log(0) = -inf on large logits: use F.log_softmax."),
        (_ls_ten_classes, "you divided the smoothing by 10 whatever the number of classes: use K = logits.shape[-1]."),
        (_ls_mean_over_classes_too, "you averaged over the classes too: sum q_k log p_k over the classes (dim -1), "
                                    "then take the mean over the batch."),
        (_ls_sign, "the sign is wrong: the loss is -sum q_k log p_k, a positive number."),
        (_ls_one_hot_not_scaled, "the target sums to more than 1: scale the one-hot part by (1 - smoothing) before "
                                 "adding smoothing / K."),
        (_ls_kl, "that is the KL divergence, which leaves out the target's own entropy: cross-entropy is "
                 "-sum q_k log p_k."),
    ], alternatives=[_ls_with_the_library, _ls_two_terms]),
    "q = F.one_hot(y, K) * (1 - s) + s / K; loss = -(q * F.log_softmax(logits, -1)).sum(-1).mean().",
    lambda: smoothed_cross_entropy,
    objective=TRICKS,
    wrong=((_ls_item, "without .item()"), (_ls_rebuilt, "cut off from the logits"),
           (_ls_per_example, "the mean over the batch")),
)
