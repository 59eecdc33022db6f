"""Exercises for week 3b, "Training well": early stopping, the range test's suggestion, dropout by hand, init."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from course.exercises import Case, Exercise, describe, learner_call, near, same_as
from course.syllabus import objective

NOTEBOOK = "03b-training-well"
CURES = objective(NOTEBOOK, "Close the gap")
LR_TEST = objective(NOTEBOOK, "Choose a learning rate")
INIT = objective(NOTEBOOK, "Initialise a deep network")


# ---------------------------------------------------------------- q1 (code): early stopping with patience
def best_epoch(val_losses: Any, patience: int) -> int:
    """Index of the epoch whose weights early stopping keeps: stop after ``patience`` epochs without improvement."""
    best, waited = 0, 0
    for epoch in range(1, len(val_losses)):
        if val_losses[epoch] < val_losses[best]:  # strictly lower: an equal loss is no improvement
            best, waited = epoch, 0
        else:
            waited += 1
            if waited == patience:  # training stops here, and never sees the epochs after it
                break
    return best


def _best_epoch_by_distance(val_losses, patience):
    """Another style: the best so far, and stop when it lies `patience` epochs behind."""
    losses = [float(v) for v in val_losses]
    best = 0
    for epoch, loss in enumerate(losses):
        if loss < losses[best]:
            best = epoch
        if epoch - best >= patience:
            break
    return best


def _hindsight(val_losses, patience):
    return int(np.argmin(np.asarray(val_losses, dtype=float)))


def _stopping_variant(improves=lambda new, best: new < best, at_stop="best", never="best"):
    """best_epoch with one typical mistake: what counts as an improvement, what is returned when training stops
    ("best" or the stopping "epoch"), and what when the history ends first ("best" or the "last" epoch)."""
    def variant(val_losses, patience):
        best, waited = 0, 0
        for epoch in range(1, len(val_losses)):
            best, waited = (epoch, 0) if improves(val_losses[epoch], val_losses[best]) else (best, waited + 1)
            if waited == patience:
                return epoch if at_stop == "epoch" else best
        return len(val_losses) - 1 if never == "last" else best
    return variant


_stopping_epoch = _stopping_variant(at_stop="epoch", never="last")
_ties_improve = _stopping_variant(improves=lambda new, best: new <= best)
_last_epoch_if_never_stopped = _stopping_variant(never="last")
_with_a_min_delta = _stopping_variant(improves=lambda new, best: new < best - 1e-3)


def _one_epoch_late(val_losses, patience):
    return best_epoch(val_losses, patience + 1)


def _counted_from_one(val_losses, patience):
    return best_epoch(val_losses, patience) + 1


def _one_epoch_early(val_losses, patience):
    return best_epoch(val_losses, max(patience - 1, 1))


def _loss_not_index(val_losses, patience):
    return float(val_losses[best_epoch(val_losses, patience)])


def _q1_cases() -> list[Case]:
    late_minimum = [1.0, 0.8, 0.7, 0.72, 0.75, 0.71, 0.74, 0.6, 0.9]  # the lowest comes after the stop
    return [
        Case("patience=2 on [1.0, 0.9, 0.95, 0.97, 0.85, 0.99, 0.98, 0.97, 0.5] (a list)",
             ([1.0, 0.9, 0.95, 0.97, 0.85, 0.99, 0.98, 0.97, 0.5], 2)),
        Case("patience=2 on a history that ties its best, [0.9, 0.5, 0.5, 0.6, 0.7, 0.4]", ([0.9, 0.5, 0.5, 0.6, 0.7, 0.4], 2)),
        Case(f"patience=3 on {late_minimum}, as a NumPy array", (np.array(late_minimum), 3)),
        Case("patience=4 on the same history, as a tensor", (torch.tensor(late_minimum, dtype=torch.float64), 4)),
        Case("patience=3 on a history that never stops improving", ([2.0, 1.5, 1.2, 1.1, 1.05, 1.0], 3)),
        Case("patience=1 on [0.5, 0.6, 0.4, 0.3]", ([0.5, 0.6, 0.4, 0.3], 1)),
        Case("patience=5 on a single epoch", ([0.7], 5)),
        Case("patience=3 on [1.0, 0.9, 0.95, 0.97, 0.8, 0.85, 0.86, 0.87, 0.1] (it improves after 2 epochs without)",
             ([1.0, 0.9, 0.95, 0.97, 0.8, 0.85, 0.86, 0.87, 0.1], 3)),
        Case("patience=2 on [0.5, 0.4999, 0.6, 0.7, 0.3] (a tiny improvement is an improvement)",
             ([0.5, 0.4999, 0.6, 0.7, 0.3], 2)),
        Case("patience=3 on [1.0, 0.7, 0.8, 0.9] (the history ends before patience runs out)", ([1.0, 0.7, 0.8, 0.9], 3)),
    ]


q1 = Exercise(
    "q1",
    "Write best_epoch(val_losses, patience): early stopping on a history of validation losses (a list, an array "
    "or a tensor, one per epoch). Training stops as soon as `patience` epochs in a row have not improved on the "
    "best loss so far (improve means strictly lower); return the index (from 0) of the epoch whose weights are "
    "kept. Epochs after the stop were never trained, so they cannot be chosen.",
    same_as(best_epoch, _q1_cases, mistakes=[
        (_hindsight, "you chose the lowest loss of the whole history, but training stops as soon as `patience` "
                     "epochs pass without improvement: the epochs after that were never trained."),
        (_last_epoch_if_never_stopped, "when the history ends before patience runs out, training simply ends: keep "
                                       "the best epoch's weights, not the last epoch's."),
        (_stopping_epoch, "that is the epoch where training stops; early stopping keeps the weights of the best "
                          "epoch before it."),
        (_one_epoch_late, "you stopped one epoch late: with patience=2, two epochs in a row without improvement "
                          "stop the run."),
        (_ties_improve, "a loss equal to the best is no improvement (use <, not <=): ties must count as "
                        "epochs without improvement."),
        (_counted_from_one, "count epochs from 0, as list indices: the first epoch is index 0."),
        (_one_epoch_early, "you stopped one epoch early: with patience=3, three epochs in a row without improvement "
                           "stop the run, not two."),
        (_loss_not_index, "you returned the best epoch's loss: return its index (from 0)."),
        (_with_a_min_delta, "any strictly lower loss is an improvement, however small: compare with <, without a "
                            "minimum change."),
    ], alternatives=[_best_epoch_by_distance, lambda val_losses, patience: np.int64(best_epoch(val_losses, patience))]),
    "Walk through the history keeping the best index so far and a count of epochs since it improved; reset the "
    "count on a strictly lower loss; break when the count reaches patience; return the best index.",
    lambda: best_epoch,
    kind="code",
    objective=CURES,
)


# ---------------------------------------------------------------- q2 (code): the range test's suggestion
def suggest_lr(lrs: Any, losses: Any) -> float:
    """A tenth of the learning rate at the lowest finite loss of a range test."""
    losses = np.asarray(losses, dtype=float)
    finite = np.where(np.isfinite(losses), losses, np.inf)  # the test ends with the loss exploding: inf or NaN
    return float(np.asarray(lrs, dtype=float)[int(np.argmin(finite))] / 10)


def _suggest_with_a_loop(lrs, losses):
    best = None
    for lr, loss in zip(lrs, losses):
        loss = float(loss)
        if math.isfinite(loss) and (best is None or loss < best[1]):
            best = (float(lr), loss)
    return best[0] / 10


def _at_the_bottom(lrs, losses):
    return suggest_lr(lrs, losses) * 10


def _nan_blind(lrs, losses):
    return float(np.asarray(lrs, dtype=float)[int(np.argmin(np.asarray(losses, dtype=float)))] / 10)


def _index_not_rate(lrs, losses):
    finite = np.where(np.isfinite(np.asarray(losses, dtype=float)), np.asarray(losses, dtype=float), np.inf)
    return float(np.argmin(finite) / 10)


def _lowest_loss(lrs, losses):
    return float(np.nanmin(np.where(np.isfinite(np.asarray(losses, dtype=float)), losses, np.nan)) / 10)


def _steepest_descent(lrs, losses):
    losses = np.asarray(losses, dtype=float)
    slope = np.diff(np.where(np.isfinite(losses), losses, 1e30))  # a huge finite stand-in: no inf - inf
    return float(np.asarray(lrs, dtype=float)[int(np.argmin(slope))])


def _last_finite_rate(lrs, losses):
    finite = np.flatnonzero(np.isfinite(np.asarray(losses, dtype=float)))
    return float(np.asarray(lrs, dtype=float)[finite[-1]] / 10)


def _one_step_before(lrs, losses):
    finite = np.where(np.isfinite(np.asarray(losses, dtype=float)), np.asarray(losses, dtype=float), np.inf)
    return float(np.asarray(lrs, dtype=float)[max(int(np.argmin(finite)) - 1, 0)])


def _suggest_with_nanargmin(lrs, losses):  # another correct style: inf is never the lowest, NaN is skipped
    losses = torch.as_tensor(np.asarray(losses, dtype=float)).nan_to_num(nan=float("inf"))
    return torch.as_tensor(np.asarray(lrs, dtype=float))[losses.argmin()] / 10  # a 0-d tensor: a number too


def _q2_cases() -> list[Case]:
    lrs = [1e-5 * 10 ** (k / 4) for k in range(20)]
    losses = [2.3, 2.3, 2.29, 2.27, 2.2, 2.0, 1.6, 1.1, 0.7, 0.5, 0.45, 0.5, 0.8, 1.9, 4.0, 9.0, float("inf"),
              float("nan"), float("nan"), float("nan")]
    nan = float("nan")
    return [  # losses with NaN as arrays: a NaN equals nothing, not even itself, so a list of them looks changed
        Case("a range test from 1e-5 whose loss ends in inf and NaN (rates in a list, losses in an array)",
             (lrs, np.array(losses))),
        Case("a shorter test, stopped before it exploded (lists)", (lrs[:12], losses[:12])),
        Case("a test from 1e-4 whose loss ends in inf (tensors)",
             (torch.tensor([1e-4, 1e-3, 1e-2, 1e-1, 1.0]), torch.tensor([2.3, 1.8, 1.2, 0.9, float("inf")]))),
        Case("a test whose lowest loss comes at its last finite step (arrays)",
             (np.array([1e-4, 1e-3, 1e-2, 1e-1, 1.0]), np.array([2.3, 1.8, 1.2, 0.9, nan]))),
        Case("a test from 1e-6 whose first loss is NaN (arrays)", (np.array([1e-6, 1e-5, 1e-4, 1e-3]),
                                                                    np.array([nan, 2.2, 1.5, 3.0]))),
    ]


q2 = Exercise(
    "q2",
    "Write suggest_lr(lrs, losses): from a learning-rate range test (the rates tried, in order, and the loss at "
    "each), return the rule of thumb's choice: a tenth of the learning rate at which the loss was lowest. The "
    "loss ends by exploding, so it may contain inf or NaN values, which must never be chosen.",
    same_as(suggest_lr, _q2_cases, mistakes=[
        (_at_the_bottom, "that is the rate at the bottom of the curve, already on the edge of divergence: "
                         "take a tenth of it."),
        (_nan_blind, "a NaN or inf loss was chosen (np.argmin returns the first NaN): skip the values that are "
                     "not finite (math.isfinite, np.isfinite)."),
        (_index_not_rate, "you returned a tenth of the index of the lowest loss: return a tenth of the learning "
                          "rate at that index, lrs[index] / 10."),
        (_lowest_loss, "that is a tenth of the lowest loss itself: return a tenth of the learning rate where it "
                       "happens."),
        (_steepest_descent, "that is the rate where the loss falls fastest (another rule of thumb): this one takes "
                            "a tenth of the rate at the lowest loss."),
        (_last_finite_rate, "that is a tenth of the last rate before the loss exploded: take the rate where the loss "
                            "was lowest, which comes earlier."),
        (_one_step_before, "you took the rate one step before the lowest loss: the rule divides the rate at the "
                           "lowest loss by 10, lrs[index] / 10."),
    ], alternatives=[_suggest_with_a_loop, _suggest_with_nanargmin]),
    "Find the index of the smallest finite loss (np.argmin over np.where(np.isfinite(losses), losses, np.inf)), "
    "then return lrs[index] / 10.",
    lambda: suggest_lr,
    kind="code",
    objective=LR_TEST,
)


# ---------------------------------------------------------------- q3 (code): dropout written by hand
def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """What nn.Dropout(p) does: in training, zero each value with probability p and scale the rest by 1/(1-p)."""
    if not training or p == 0:
        return x  # evaluation: every unit, unscaled
    keep = (torch.rand_like(x) >= p).to(x.dtype)  # 1 with probability 1 - p
    return x * keep / (1 - p)  # scaled so that the expected value of each unit is unchanged


def _dropout_with_bernoulli(x, p, training):
    return x * torch.bernoulli(torch.full_like(x, 1 - p)) / (1 - p) if training else x.clone()


def _dropout_variant(scale="divide", keep="1-p", in_eval=False, in_place=False):
    def variant(x, p, training):
        if not training and not in_eval:
            return x
        mask = (torch.rand_like(x) < p) if keep == "p" else (torch.rand_like(x) >= p)
        factor = {"divide": 1 / (1 - p), "none": 1.0, "multiply": 1 - p}[scale]
        return x.mul_(mask * factor) if in_place else x * mask * factor
    return variant


def _dropout_exact_share(x, p, training):
    if not training:
        return x
    keep = torch.ones(x.numel(), dtype=x.dtype)
    keep[torch.randperm(x.numel())[:round(p * x.numel())]] = 0  # always the same count: not independent draws
    return x * keep.view_as(x) / (1 - p)


_Q3_CASES = ((torch.float32, (64, 200), 0.5), (torch.float64, (8, 3, 20, 20), 0.2), (torch.float32, (4000,), 0.8))


def _like_x(x: torch.Tensor, got: Any) -> str | None:
    if not isinstance(got, torch.Tensor) or got.shape != x.shape:
        return f"expected a tensor like x (shape {tuple(x.shape)}, {x.dtype}), got {describe(got)}."
    if got.dtype != x.dtype:
        return f"x came in as {x.dtype} and went out as {got.dtype}: keep x's dtype (mask.to(x.dtype))."
    return None


def _q3_case(answer: Any, dtype: torch.dtype, shape: tuple, p: float) -> str | None:
    x = torch.randn(*shape, dtype=dtype).abs() + 0.5  # no zeros of its own, so every 0 out is a dropped unit
    kept = x.clone()
    evaluated = learner_call(answer, x, p, False)
    if problem := _like_x(x, evaluated):
        return problem
    if not torch.equal(evaluated, kept):
        return ("in evaluation (training=False) dropout does nothing: return x unchanged (no mask, no scaling); "
                "that is what model.eval() relies on.")
    out = learner_call(answer, x, p, True)
    if not torch.equal(x, kept):
        return "your function changed x in place; the caller still needs it: build a new tensor (x * mask ...)."
    if problem := _like_x(x, out):
        return problem
    zeros = out == 0
    if x.ndim >= 2 and (zeros == zeros[:1]).all() and 0 < zeros.double().mean() < 1:
        return ("every row dropped the same units: draw one random number per value (torch.rand_like(x)), not one "
                "mask per column that all rows share.")
    if x.ndim >= 2 and (zeros == zeros.flatten(1)[:, :1].view(-1, *[1] * (x.ndim - 1))).all():
        return ("you dropped whole rows (examples) at once: draw one random number per value (torch.rand_like(x)), "
                "not one per example.")
    dropped = (out == 0).double().mean().item()
    tolerance = 5 * math.sqrt(p * (1 - p) / x.numel()) + 0.005
    if abs(dropped - (1 - p)) <= tolerance < abs(dropped - p):
        return "you kept a fraction p of the values; p is the probability to drop (keep with probability 1 - p)."
    if abs(dropped - p) > tolerance:
        return f"{dropped:.1%} of the values were zeroed; with p={p} expected about {p:.0%}."
    survivors = out[out != 0] / x[out != 0]
    for factor, why in ((1.0, "the values you kept are not scaled: divide them by (1 - p)"),
                        (1 - p, "you multiplied the kept values by (1 - p): divide by it instead")):
        if torch.allclose(survivors, torch.full_like(survivors, factor)):
            return f"{why}, so that each unit keeps the same expected value in training and in evaluation."
    if not torch.allclose(survivors, torch.full_like(survivors, 1 / (1 - p))):
        return "each kept value should be x / (1 - p); yours are not."
    again = learner_call(answer, x, p, True)
    if torch.equal(out, again):
        return "two calls dropped the same units: draw a new random mask at every call (torch.rand_like(x))."
    counts = {int((o == 0).sum()) for o in (out, again, learner_call(answer, x, p, True))}
    if len(counts) == 1 and x.numel() > 1000:
        return ("every call dropped exactly the same number of values: drop each value on its own, with "
                "probability p (torch.rand_like(x) >= p), so that the count varies from call to call.")
    x_grad = x.clone().requires_grad_()
    out = learner_call(answer, x_grad, p, True)
    if not (isinstance(out, torch.Tensor) and out.requires_grad):
        return ("the output is cut off from x (torch.no_grad(), .detach() or a new tensor from numbers?): dropout sits "
                "inside the network, so the gradient must flow back through it: build it as x * mask / (1 - p).")
    (grad,) = torch.autograd.grad(out.sum(), x_grad)
    if not torch.allclose(grad, (out != 0).to(dtype) / (1 - p)):
        return "the gradient through your dropout is not mask / (1 - p): build the output as x * mask / (1 - p)."
    return None


def _q3_check(answer: Any) -> str | None:
    if not callable(answer):
        return f"pass your function itself (its name, without calling it), not a {type(answer).__name__}."
    with torch.random.fork_rng(devices=[]):  # the checker's draws leave the notebook's random state alone
        torch.manual_seed(3)
        for dtype, shape, p in _Q3_CASES:
            if problem := _q3_case(answer, dtype, shape, p):
                return f"on x of shape {shape} ({str(dtype).replace('torch.', '')}) with p={p}: {problem}"
    return None


q3 = Exercise(
    "q3",
    "Write dropout(x, p, training) by hand, without nn.Dropout or F.dropout: in training, set each value of x to "
    "0 with probability p and divide the others by (1 - p); in evaluation, return x unchanged. Keep x's shape "
    "and dtype, and leave x itself unchanged.",
    _q3_check,
    "keep = (torch.rand_like(x) >= p).to(x.dtype) is 1 with probability 1 - p; return x * keep / (1 - p) in "
    "training, x otherwise.",
    lambda: dropout,
    kind="code",
    objective=CURES,
    wrong=((_dropout_variant(scale="none"), "not scaled"), (_dropout_variant(scale="multiply"), "divide by it"),
           (_dropout_variant(keep="p"), "probability to drop"), (_dropout_variant(in_eval=True), "does nothing"),
           (_dropout_variant(in_place=True), "changed x in place"),
           (lambda x, p, training: _dropout_variant()(x, p, training).detach(), "cut off from x"),
           (lambda x, p, training: x * (torch.rand(x.shape[-1], dtype=x.dtype) >= p) / (1 - p) if training else x,
            "every row dropped the same units"),
           (lambda x, p, training: (x * (torch.rand_like(x) >= p)).float() / (1 - p) if training else x,
            "keep x's dtype"), (_dropout_exact_share, "exactly the same number")),
    right=(_dropout_with_bernoulli, lambda x, p, training: F.dropout(x, p, training)),
)


# ---------------------------------------------------------------- q4: Kaiming's standard deviation
q4 = Exercise(
    "q4",
    "Kaiming initialisation for a Linear(400, 300) layer followed by a ReLU: what standard deviation should "
    "its weights have?",
    near(math.sqrt(2 / 400), rel=0.01, mistakes={  # 400 and 300: no wrong rule lands on sqrt(2 / fan_in)
        math.sqrt(1 / 400): "That is the rule for a layer without ReLU: ReLU zeroes half of the values, and the "
                            "factor 2 makes up for it.",
        2 / 400: "That is the variance; the standard deviation is its square root.",
        math.sqrt(2 / 300): "fan_in is the number of inputs of each output, 400 here, not the number of outputs.",
        math.sqrt(1 / 300): "fan_in is the number of inputs (400), and ReLU needs the factor 2: sqrt(2 / fan_in).",
        math.sqrt(2 / (400 + 300)): "That is Xavier/Glorot (fan_in + fan_out), made for tanh; Kaiming for ReLU uses "
                                    "sqrt(2 / fan_in).",
        math.sqrt(6 / 400): "That is the bound of Kaiming's *uniform* version, U(-b, b); its standard deviation is "
                            "b / sqrt(3) = sqrt(2 / fan_in).",
    }),
    "std = sqrt(2 / fan_in), and fan_in is the layer's number of inputs.",
    lambda: math.sqrt(2 / 400),
    objective=INIT,
    wrong=((0.05, "without ReLU"), (0.0816, "not the number of outputs"), (0.0535, "Xavier"), (0.1225, "uniform"),
           (0.005, "variance")),
    right=(0.0707, np.float32(0.070710678)),
)
