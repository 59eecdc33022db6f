"""Exercises for week 3, "PyTorch basics and MNIST"."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from course.exercises import Exercise, as_number, choice, describe, learner_call, near
from course.syllabus import objective

NOTEBOOK = "03a-pytorch-basics-and-mnist"
TENSORS = objective(NOTEBOOK, "Use tensors: shapes,")
AUTOGRAD = objective(NOTEBOOK, "Let autograd compute")
MODULE = objective(NOTEBOOK, "Write an nn.Module")
EVALUATE = objective(NOTEBOOK, "Evaluate by hand")


def _q1_solve() -> tuple[int, ...]:
    return tuple((torch.zeros(4, 1, 3) + torch.zeros(5, 1)).shape)


def _q1_check(answer: Any) -> str | None:
    try:  # a tuple, list or torch.Size of Python, NumPy or 0-d tensor integers
        dims = [as_number(d) for d in (answer.tolist() if hasattr(answer, "tolist") else answer)]
    except TypeError:
        dims = [None]
    if isinstance(answer, str) or not dims or any(d is None or not d.is_integer() for d in dims):
        return "give the shape as a tuple of integers, e.g. (2, 3)."
    answer = tuple(int(d) for d in dims)
    if answer in ((4, 1, 3), (5, 1)):
        return "broadcasting stretches size-1 dimensions of *both* tensors; the result is bigger than either."
    if answer == (5, 4, 3):
        return ("the dimensions keep their order: align the shapes from the right, (4, 1, 3) over (_, 5, 1); the "
                "4 stays first.")
    if answer in ((4, 5, 1, 3), (4, 1, 5, 3)):
        return ("broadcasting never adds the dimensions of both shapes together: align them from the right and "
                "pair them up; the result has as many dimensions as the longer shape (3).")
    if len(answer) != 3:
        return "align the shapes from the right; the missing leading dimension of (5, 1) counts as 1."
    return None if answer == _q1_solve() else f"{answer} is not it: compare the shapes dimension by dimension."


q1 = Exercise(
    "q1",
    "What is the shape of torch.zeros(4, 1, 3) + torch.zeros(5, 1)?",
    _q1_check,
    "Write the shapes right-aligned: (4, 1, 3) and (_, 5, 1). Each pair must be equal or contain a 1.",
    _q1_solve,
    objective=TENSORS,
    wrong=(((4, 1, 3), "of *both* tensors"), ((5, 3), "align the shapes from the right"), ("(4, 5, 3)", "integers"),
           ((5, 4, 3), "keep their order"), ((4, 5, 1, 3), "never adds the dimensions"), (60, "tuple of integers"),
           ((1, 5, 3), "not it")),
    right=([4, 5, 3], (np.int64(4), np.int64(5), np.int64(3)), torch.Size([4, 5, 3]), np.array([4, 5, 3])),
)

q2 = Exercise(
    "q2",
    "How many parameters does nn.Linear(784, 128) have?",
    near(784 * 128 + 128, rel=0, mistakes={  # a weight per input-output pair, plus one bias per output
        784 * 128: "Close: you counted the weights; each of the 128 outputs also has a bias.",
        784 + 128: "A Linear layer connects every input to every output: multiply, don't add.",
        784 * 129: "There is one bias per output (128), not per input: 784 * 128 + 128.",
        (784 * 128 + 128) * 4: "That is the bytes in fp32; the question asks for the number of parameters.",
        2 * (784 * 128 + 128): "Count each weight and bias once; nn.Linear(784, 128) has no second matrix."}),
    "y = x @ W.T + b: W is 128 x 784 and b has 128 entries.",
    lambda: 784 * 128 + 128,
    objective=MODULE,
)


def _q3_solve() -> float:
    x = torch.tensor(2.0, requires_grad=True)
    (3 * x**2 + x).backward()
    return float(x.grad)


q3 = Exercise(
    "q3",
    "x = torch.tensor(2.0, requires_grad=True); (3 * x**2 + x).backward(). What is x.grad?",
    near(13.0, rel=1e-6, mistakes={12.0: "Don't forget the derivative of the + x term.",
                                   14.0: "That is f(2); the question asks for the gradient f'(2).",
                                   7.0: "The derivative of 3x^2 is 6x, not 3x: bring the power down.",
                                   6.0: "That is the derivative of 3x^2 at x = 1; evaluate 6x + 1 at x = 2."}),
    "d/dx (3x^2 + x) = 6x + 1. Or just run it.",
    _q3_solve,
    objective=AUTOGRAD,
)

q4 = Exercise(
    "q4",
    "Why does the loop call optimizer.zero_grad() every step? (a) to reset the weights; "
    "(b) because backward() adds to .grad instead of overwriting it; (c) to reset the learning rate",
    choice("b", {"a": "zero_grad does not touch the weights, only their .grad fields.",
                 "c": "the learning rate lives in the optimizer and never changes because of zero_grad."}),
    "Look at section 2: what happened to w.grad after a second backward()?",
    lambda: "b",
    objective=AUTOGRAD,
    wrong=(("a", "only their .grad fields"), ("c", "the learning rate lives in the optimizer")),
)


# ---------------------------------------------------------------- shared by the code exercises
class _Probe(nn.Module):
    """Wraps a network; records, at each forward, its mode and whether autograd is recording."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net, self.calls = net, []

    def forward(self, x):
        self.calls.append((self.training, torch.is_grad_enabled()))
        return self.net(x)


def _loader(n: int, n_in: int, batch: int, classes: int, seed: int) -> Any:
    """n random examples (class labels, or regression targets when classes is 0) in batches of ``batch``."""
    from torch.utils.data import DataLoader, TensorDataset

    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, n_in, generator=g)
    y = torch.randint(classes, (n,), generator=g) if classes else torch.randn(n, 1, generator=g)
    return DataLoader(TensorDataset(X, y), batch_size=batch)


def _per_batch(what: str) -> str:
    return (f"you averaged the per-batch {what}, but the last batch is smaller: weigh each batch by its size (count "
            "over all examples) and divide by the number of examples.")


# ---------------------------------------------------------------- q5 (code): one epoch of training
def train_one_epoch(model: Any, loader: Any, loss_fn: Any, optimizer: Any) -> float:
    """Train ``model`` for one pass over ``loader``; return the mean loss per example over the epoch."""
    device = next(model.parameters()).device
    model.train()  # dropout on, batch norm updates its statistics: the model may come from an evaluation
    total, count = 0.0, 0
    for X, y in loader:
        X, y = X.to(device), y.to(device)
        loss = loss_fn(model(X), y)
        optimizer.zero_grad()  # backward() adds to .grad: clear last step's gradients first
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)  # the loss is a batch mean: weigh it by the batch's size
        count += len(y)
    return total / count


def _train_variant(train_mode=True, zero=True, step=True, per_batch=False, item=True, reduce="mean", end_eval=False):
    """train_one_epoch with one typical mistake switched on."""
    def variant(model, loader, loss_fn, optimizer):
        result = _variant_body(model, loader, loss_fn, optimizer)
        model.train(not end_eval and model.training)
        return result

    def _variant_body(model, loader, loss_fn, optimizer):
        model.train(train_mode or model.training)
        losses = []
        for X, y in loader:
            loss = loss_fn(model(X), y)
            optimizer.zero_grad() if zero else None
            loss.backward()
            optimizer.step() if step else None
            losses.append((loss.item() if item else loss, len(y)))
        if per_batch:
            return sum(v for v, _ in losses) / len(losses)
        if reduce != "mean":
            return {"last": losses[-1][0], "sum": sum(v * n for v, n in losses),
                    "means over examples": sum(v for v, _ in losses) / sum(n for _, n in losses)}[reduce]
        return sum(v * n for v, n in losses) / sum(n for _, n in losses)
    return variant


def _train_in_another_style(model, loader, loss_fn, optimizer):
    model.train()
    total = torch.zeros(())
    for X, y in loader:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        total += loss.detach() * X.shape[0]
    return total / len(loader.dataset)  # a 0-d tensor without a graph: a number too


_Q5_MISTAKES = (  # named when the learner's weights and mean loss are those the mistake gives
    (_train_variant(train_mode=False), "the model stayed in evaluation mode (dropout off): call model.train() at the "
     "start; the model may come straight from an evaluation."),
    (_train_variant(step=False), "the weights did not change: call optimizer.step() after loss.backward(), and "
     "optimizer.zero_grad() before backward(), not between backward() and step()."),
    (_train_variant(zero=False), "without optimizer.zero_grad() each step's gradients add up (backward() accumulates "
     "into .grad): clear them every step."),
    (_train_variant(per_batch=True), _per_batch("losses")),
    (_train_variant(reduce="last"), "you returned the last batch's loss: return the mean loss over every example of "
     "the epoch (add loss.item() * len(y) over the batches, divide by the number of examples)."),
    (_train_variant(reduce="sum"), "you returned the total loss of the epoch: divide it by the number of examples."),
    (_train_variant(reduce="means over examples"), "you added up the batch means and divided by the number of "
     "examples: loss is already a mean over its batch, so weigh it by the batch's size first (loss.item() * len(y))."),
)
_Q5_CASES = (  # label; layers; examples, features, batch, classes (0: regression); loss; optimizer and its settings
    ("a classifier with dropout handed over in evaluation mode, 10 examples in batches of 4 (the last has 2), "
     "CrossEntropyLoss(), SGD(lr=0.1)", lambda: [nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 3)],
     (10, 4, 4, 3), nn.CrossEntropyLoss(), torch.optim.SGD, {"lr": 0.1}),
    ("a regression net, 9 examples in batches of 5, MSELoss(), SGD(lr=0.05, momentum=0.9)",
     lambda: [nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1)], (9, 3, 5, 0), nn.MSELoss(), torch.optim.SGD,
     {"lr": 0.05, "momentum": 0.9}),
    ("a linear classifier, 7 examples in batches of 3 (the last has 1), CrossEntropyLoss(label_smoothing=0.1), "
     "Adam(lr=0.01)", lambda: [nn.Linear(6, 4)], (7, 6, 3, 4), nn.CrossEntropyLoss(label_smoothing=0.1),
     torch.optim.Adam, {"lr": 0.01}),
)


def _q5_run(fn: Any, i: int, learner: bool = False) -> tuple[Any, dict, bool]:
    """Run fn on a fresh copy of case i, with the same dropout draws: (returned value, weights after, training?)."""
    _, layers, sizes, loss_fn, optimizer, settings = _Q5_CASES[i]
    torch.manual_seed(10 + i)
    model = nn.Sequential(*layers()).train(i != 0)
    args = (model, _loader(*sizes, seed=i), loss_fn, optimizer(model.parameters(), **settings))
    torch.manual_seed(100 + i)
    got = learner_call(fn, *args) if learner else fn(*args)
    return got, {k: v.detach().clone() for k, v in model.state_dict().items()}, model.training


def _same(run: tuple[Any, dict], other: tuple[Any, dict]) -> bool:
    """Same weights (and the same number returned, when ``other``'s is one)."""
    (got, weights, *_), (number, others, *_) = run, other
    number, value = as_number(number), as_number(got)
    return all(torch.allclose(weights[k], others[k], rtol=1e-5, atol=1e-6) for k in weights) and (
        number is None or (value is not None and math.isclose(value, number, rel_tol=1e-5, abs_tol=1e-7)))


def _q5_case(answer: Any, i: int) -> str | None:
    where, expected, run = f"on {_Q5_CASES[i][0]}", _q5_run(train_one_epoch, i), _q5_run(answer, i, learner=True)
    if isinstance(run[0], torch.Tensor) and run[0].requires_grad:
        return (f"{where}: you returned a tensor that still holds its graph: accumulate loss.item() (a float), or "
                "every batch's graph stays in memory.")
    if _same(run, expected):
        if not run[2]:
            return (f"{where}: your function left the model in evaluation mode: end in training mode (call "
                    "model.train() at the start, and do not switch to model.eval() inside the epoch).")
        return None
    why = next((why for wrong, why in _Q5_MISTAKES if _same(run, _q5_run(wrong, i))), None)
    if why or not _same(run, (None, expected[1])):
        worst = max((run[1][k] - expected[1][k]).abs().max().item() for k in run[1])
        return f"{where}: " + (why or f"after the epoch the weights differ from the reference by up to {worst:.3g}: "
                               "use the loss_fn and the optimizer you are given, one step per batch.")
    if as_number(run[0]) is None:
        return f"{where}: return the mean loss as one number, not {describe(run[0])}."
    return f"{where}: expected a mean loss of {expected[0]:.6g}, got {as_number(run[0]):.6g}."


def _q5_check(answer: Any) -> str | None:
    if not callable(answer):
        return f"pass your function itself (its name, without calling it), not a {type(answer).__name__}."
    with torch.random.fork_rng(devices=[]):  # the checker's draws leave the notebook's random state alone
        return next((p for i in range(len(_Q5_CASES)) if (p := _q5_case(answer, i))), None)


q5 = Exercise(
    "q5",
    "Write train_one_epoch(model, loader, loss_fn, optimizer): one pass of training over the loader (each batch "
    "moved to the model's device) that leaves the model in training mode and returns the mean loss per example "
    "over the epoch. The model may arrive in evaluation mode, and the last batch may be smaller than the others.",
    _q5_check,
    "model.train(); for X, y in loader: move X, y to next(model.parameters()).device; loss = loss_fn(model(X), "
    "y); zero_grad, backward, step; add loss.item() * len(y) and len(y); return the ratio.",
    lambda: train_one_epoch,
    kind="code",
    objective=MODULE,
    wrong=(*_Q5_MISTAKES, (_train_variant(item=False), "still holds its graph"),
           (_train_variant(end_eval=True), "left the model in evaluation mode")),
    right=(_train_in_another_style,),
)


# ---------------------------------------------------------------- q6 (code): the evaluation loop
def evaluate(model: Any, loader: Any) -> float:
    """Accuracy (0-1) over every example of ``loader``: eval mode, no gradients, the model's mode restored."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()  # dropout off, batch norm uses its running statistics
    correct = total = 0
    with torch.no_grad():  # no graph is recorded: faster, and far less memory
        for X, y in loader:
            X, y = X.to(device), y.to(device)
            correct += (model(X).argmax(dim=1) == y).sum().item()
            total += len(y)
    model.train(was_training)  # leave the model as it came: training goes on after an evaluation
    return correct / total


def _evaluate_variant(eval_mode=True, no_grad=True, restore=True, per_batch=False, count=False, reduce=""):
    """evaluate with one typical mistake switched on."""
    def variant(model, loader):
        was_training = model.training
        model.train(not eval_mode and was_training)
        with torch.set_grad_enabled(not no_grad):
            hits = [((model(X).argmax(1) == y).sum().item(), len(y)) for X, y in loader]
        model.train(was_training if restore else model.training)
        if count:
            return sum(h for h, _ in hits)
        if reduce:
            right, seen = sum(h for h, _ in hits), sum(n for _, n in hits)
            return {"error": 1 - right / seen,
                    "full batches": right / (len(hits) * loader.batch_size)}[reduce]
        return sum(h / n for h, n in hits) / len(hits) if per_batch else sum(h for h, _ in hits) / len(loader.dataset)
    return variant


def _evaluate_in_another_style(model, loader):
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        predictions = torch.cat([model(X).argmax(1) for X, _ in loader])
        labels = torch.cat([y for _, y in loader])
    model.train(was_training)
    return (predictions == labels).float().mean()  # a 0-d tensor: a number too


_Q6_MISTAKES = (  # named when the learner's accuracy is the one the mistake gives
    (_evaluate_variant(count=True), "you returned the number of correct predictions; divide by the number of examples."),
    (_evaluate_variant(reduce="full batches"), "you divided by len(loader) * batch_size, but the last batch is "
     "smaller: count the examples you saw (add len(y) per batch) and divide by that."),
    (_evaluate_variant(per_batch=True), _per_batch("accuracies")),
    (_evaluate_variant(reduce="error"), "that is the error rate (1 - accuracy): return the fraction of correct "
     "predictions."),
)
_Q6_CASES = (  # label; examples, features, batch, classes; the mode the model is handed over in
    ("10 examples of 2 features, 3 classes, in batches of 4 (the last has 2), model in training mode", (10, 2, 4, 3), True),
    ("12 examples of 5 features, 4 classes, in one batch, model in evaluation mode", (12, 5, 12, 4), False),
    ("7 examples of 3 features, 2 classes, in batches of 3 (the last has 1), model in training mode", (7, 3, 3, 2), True),
)


def _q6_model(n_in: int, classes: int, training: bool) -> _Probe:
    """A classifier with batch norm (whose running statistics differ from a fresh one's) and dropout."""
    torch.manual_seed(n_in)
    net = nn.Sequential(nn.Linear(n_in, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, classes))
    net.train()(torch.randn(32, n_in))
    return _Probe(net).train(training)


def _q6_case(answer: Any, i: int) -> str | None:
    label, (n, n_in, batch, classes), training = _Q6_CASES[i]
    where, loader = f"on {label}", _loader(n, n_in, batch, classes, seed=5 + i)
    model = _q6_model(n_in, classes, training)
    value = as_number(learner_call(answer, model, loader))
    if any(mode for mode, _ in model.calls):
        return (f"{where}: the model is still in training mode: dropout is on, so predictions are random. Call "
                "model.eval() before the loop.")
    if any(grad for _, grad in model.calls):
        return (f"{where}: gradients are being recorded: every forward builds a graph for backward(), which "
                "evaluation never calls. Wrap the loop in torch.no_grad().")
    if model.training != training:
        now, before = ("training", "evaluation") if model.training else ("evaluation", "training")
        return (f"{where}: you left the model in {now} mode; it came in {before} mode. Keep was_training = "
                "model.training and end with model.train(was_training): training goes on after an evaluation.")
    expected = evaluate(_q6_model(n_in, classes, training), loader)
    if value is None or math.isclose(value, expected, rel_tol=1e-6):
        return None if value is not None else f"{where}: return the accuracy as one number (a fraction)."
    if math.isclose(value, 100 * expected):
        return f"{where}: that is a percentage; return a fraction between 0 and 1."
    mine = _q6_values(answer)  # a mistake is named when it gives the learner's numbers on every case, not just this one
    why = next((why for wrong, why in _Q6_MISTAKES if all(
        a is not None and math.isclose(a, b) for a, b in zip(mine, _q6_values(wrong), strict=True))), None)
    return f"{where}: " + (why or f"expected {expected:.4g}, got {value:.4g} (the model ran on {len(model.calls)} "
                           f"of the {len(loader)} batches).")


def _q6_values(fn: Any) -> list[float | None]:
    """What fn returns on each case, each on a fresh model."""
    values = []
    for i, (_, (n, n_in, batch, classes), training) in enumerate(_Q6_CASES):
        try:
            values.append(as_number(fn(_q6_model(n_in, classes, training), _loader(n, n_in, batch, classes, seed=5 + i))))
        except Exception:  # noqa: BLE001 - the learner's code already ran once on this case
            values.append(None)
    return values


def _q6_check(answer: Any) -> str | None:
    if not callable(answer):
        return f"pass your function itself (its name, without calling it), not a {type(answer).__name__}."
    with torch.random.fork_rng(devices=[]):
        return next((p for i in range(len(_Q6_CASES)) if (p := _q6_case(answer, i))), None)


q6 = Exercise(
    "q6",
    "Write evaluate(model, loader): the accuracy (a fraction, 0-1) of the model over every example of the loader, "
    "measured as it should be (evaluation mode, no gradient recording, each batch moved to the model's device, "
    "a last batch that may be smaller), leaving the model in the mode it came in.",
    _q6_check,
    "was_training = model.training; model.eval(); with torch.no_grad(): count (model(X).argmax(1) == y).sum().item() "
    "and len(y) over the batches; model.train(was_training); return correct / total.",
    lambda: evaluate,
    kind="code",
    objective=EVALUATE,
    wrong=(*_Q6_MISTAKES, (_evaluate_variant(eval_mode=False), "still in training mode"),
           (_evaluate_variant(no_grad=False), "gradients are being recorded"),
           (_evaluate_variant(restore=False), "you left the model in evaluation mode")),
    right=(_evaluate_in_another_style,),
)
