"""Exercises for week 3, "PyTorch basics and MNIST"."""

from __future__ import annotations

import math
from typing import Any

from course.exercises import Exercise, choice, describe, learner_call, near
from course.syllabus import objective

NOTEBOOK = "03a-pytorch-basics-and-mnist"
TENSORS = objective(NOTEBOOK, "Use tensors: shapes,")
AUTOGRAD = objective(NOTEBOOK, "Let autograd compute")
MODULE = objective(NOTEBOOK, "Write an nn.Module")
EVALUATE = objective(NOTEBOOK, "Evaluate by hand")


def _q1_solve() -> tuple[int, ...]:
    import torch

    return tuple((torch.zeros(4, 1, 3) + torch.zeros(5, 1)).shape)


def _q1_check(answer: Any) -> str | None:
    if not isinstance(answer, tuple | list) or not all(isinstance(d, int) for d in answer):
        return "give the shape as a tuple of integers, e.g. (2, 3)."
    answer = tuple(answer)
    if answer == _q1_solve():
        return None
    if answer in ((4, 1, 3), (5, 1)):
        return "broadcasting stretches size-1 dimensions of *both* tensors; the result is bigger than either."
    if len(answer) != 3:
        return "align the shapes from the right; the missing leading dimension of (5, 1) counts as 1."
    return f"{answer} is not it: compare the shapes dimension by dimension, from the right."


q1 = Exercise(
    "q1",
    "What is the shape of torch.zeros(4, 1, 3) + torch.zeros(5, 1)?",
    _q1_check,
    "Write the shapes right-aligned: (4, 1, 3) and (_, 5, 1). Each pair must be equal or contain a 1.",
    _q1_solve,
    objective=TENSORS,
)


def _q2_solve() -> int:
    return 784 * 128 + 128  # a weight per input-output pair, plus one bias per output


def _q2_check(answer: Any) -> str | None:
    if isinstance(answer, bool) or not isinstance(answer, int):
        return "expected a whole number of parameters."
    if answer == _q2_solve():
        return None
    if answer == 784 * 128:
        return "close: you counted the weights; each of the 128 outputs also has a bias."
    if answer == 784 + 128:
        return "a Linear layer connects every input to every output: multiply, don't add."
    return f"{answer:,} is not it."


q2 = Exercise(
    "q2",
    "How many parameters does nn.Linear(784, 128) have?",
    _q2_check,
    "y = x @ W.T + b: W is 128 x 784 and b has 128 entries.",
    _q2_solve,
    objective=MODULE,
)


def _q3_solve() -> float:
    import torch

    x = torch.tensor(2.0, requires_grad=True)
    (3 * x**2 + x).backward()
    return float(x.grad)


def _q3_check(answer: Any) -> str | None:
    problem = near(_q3_solve(), rel=1e-6)(answer)
    if problem and isinstance(answer, int | float) and answer == 12:
        return problem + " Don't forget the derivative of the + x term."
    if problem and isinstance(answer, int | float) and answer == 14:
        return problem + " That is f(2); the question asks for the gradient f'(2)."
    return problem


q3 = Exercise(
    "q3",
    "x = torch.tensor(2.0, requires_grad=True); (3 * x**2 + x).backward(). What is x.grad?",
    _q3_check,
    "d/dx (3x^2 + x) = 6x + 1. Or just run it.",
    _q3_solve,
    objective=AUTOGRAD,
)


def _q4_solve() -> str:
    return "b"


_q4_check = choice("b", {
    "a": "zero_grad does not touch the weights, only their .grad fields.",
    "c": "the learning rate lives in the optimizer and never changes because of zero_grad.",
})


q4 = Exercise(
    "q4",
    "Why does the loop call optimizer.zero_grad() every step? (a) to reset the weights; "
    "(b) because backward() adds to .grad instead of overwriting it; (c) to reset the learning rate",
    _q4_check,
    "Look at section 2: what happened to w.grad after a second backward()?",
    _q4_solve,
    objective=AUTOGRAD,
)


# q5 (code): the evaluation loop, by hand.
def accuracy(model: Any, loader: Any) -> float:
    """Fraction of correctly classified examples: eval mode, no gradients, every batch of ``loader``."""
    import torch

    device = next(model.parameters()).device
    model.eval()  # dropout off, batch norm uses its running statistics
    correct = total = 0
    with torch.no_grad():  # no graph is recorded: faster, and far less memory
        for X, y in loader:
            X, y = X.to(device), y.to(device)
            correct += (model(X).argmax(dim=1) == y).sum().item()
            total += len(y)
    return correct / total


def _probe_model() -> Any:
    """A tiny classifier with dropout that records, at each forward, its mode and whether autograd is on."""
    import torch
    from torch import nn

    class Probe(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(2, 3)
            self.dropout = nn.Dropout(0.5)
            with torch.no_grad():
                self.linear.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
                self.linear.bias.zero_()
            self.calls: list[tuple[bool, bool]] = []

        def forward(self, x):
            self.calls.append((self.training, torch.is_grad_enabled()))
            return self.dropout(self.linear(x))

    return Probe().train()  # as it is after training


def _q5_cases() -> list[tuple[str, Any]]:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    g = torch.Generator().manual_seed(5)
    X = torch.randn(10, 2, generator=g)
    truth = torch.stack([X[:, 0], X[:, 1], -X.sum(1)], 1).argmax(1)
    y = truth.clone()
    y[[1, 2, 8]] = (y[[1, 2, 8]] + 1) % 3  # three wrong labels, two in the first batch, one in the last
    return [("10 examples in batches of 4 (the last batch has 2)", DataLoader(TensorDataset(X, y), batch_size=4)),
            ("10 examples in one batch", DataLoader(TensorDataset(X, y), batch_size=10))]


def _q5_check(answer: Any) -> str | None:
    if not callable(answer):
        return f"pass your function itself (its name, without calling it), not a {type(answer).__name__}."
    import torch

    for label, loader in _q5_cases():
        model = _probe_model()
        expected = accuracy(_probe_model(), loader)
        got = learner_call(answer, model, loader)
        if not model.calls:
            return f"on {label}: your function never ran the model on the batches."
        if any(training for training, _ in model.calls):
            return (f"on {label}: the model is still in training mode: dropout is on, so predictions are random. "
                    "Call model.eval() before the loop.")
        if any(grad for _, grad in model.calls):
            return (f"on {label}: gradients are being recorded: every forward builds a graph for backward(), "
                    "which evaluation never calls. Wrap the loop in torch.no_grad().")
        if len(model.calls) != len(loader):
            return f"on {label}: the model ran on {len(model.calls)} batches; the loader has {len(loader)}."
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, int | float):
            return f"on {label}: return one number (a Python float), got {describe(got)}."
        if math.isclose(got, expected, rel_tol=1e-6):
            continue
        n = len(loader.dataset)
        if math.isclose(got, expected * n):
            return f"on {label}: you returned the number of correct predictions ({got:g}); divide by the {n} examples."
        if math.isclose(got, 100 * expected):
            return f"on {label}: that is a percentage; return a fraction between 0 and 1."
        per_batch = []
        for X, y in loader:
            with torch.no_grad():
                per_batch.append((_probe_model().eval()(X).argmax(1) == y).float().mean().item())
        if math.isclose(got, sum(per_batch) / len(per_batch)):
            return (f"on {label}: you averaged the per-batch accuracies, but the last batch is smaller: count the "
                    "correct predictions over all batches and divide by the number of examples.")
        return f"on {label}: expected {expected:.4g}, got {got:.4g}."
    return None


q5 = Exercise(
    "q5",
    "Write accuracy(model, loader): the fraction (0-1) of the loader's examples that the model classifies "
    "correctly, evaluated as it should be: evaluation mode, no gradient recording, every batch.",
    _q5_check,
    "device = next(model.parameters()).device; model.eval(); with torch.no_grad(): for X, y in loader: count "
    "(model(X).argmax(1) == y).sum().item() and len(y); return correct / total.",
    lambda: accuracy,
    kind="code",
    objective=EVALUATE,
)


# q6 (code): an nn.Module with given sizes.
def _two_layer_net() -> type:
    from torch import nn

    class TwoLayerNet(nn.Module):
        """Flatten, Linear(n_in, n_hidden), ReLU, Dropout(p_drop), Linear(n_hidden, n_out): returns logits."""

        def __init__(self, n_in: int, n_hidden: int, n_out: int, p_drop: float = 0.5):
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(n_in, n_hidden), nn.ReLU(), nn.Dropout(p_drop),
                                     nn.Linear(n_hidden, n_out))

        def forward(self, x):
            return self.net(x)  # logits: CrossEntropyLoss applies the softmax itself

    return TwoLayerNet


def _q6_check(answer: Any) -> str | None:
    import torch
    from torch import nn

    if not (isinstance(answer, type) and issubclass(answer, nn.Module)):
        what = f"an instance of {type(answer).__name__}" if isinstance(answer, nn.Module) else describe(answer)
        return f"pass your class itself (TwoLayerNet, not TwoLayerNet(...)), a subclass of nn.Module; got {what}."
    for n_in, n_hidden, n_out, shape in ((12, 16, 3, (5, 1, 3, 4)), (784, 32, 10, (2, 1, 28, 28))):
        label = f"TwoLayerNet({n_in}, {n_hidden}, {n_out}, p_drop=0.5) on a batch of shape {shape}"
        torch.manual_seed(0)
        net = learner_call(answer, n_in, n_hidden, n_out, p_drop=0.5)
        expected = n_in * n_hidden + n_hidden + n_hidden * n_out + n_out
        count = sum(p.numel() for p in net.parameters())
        if count != expected:
            why = " Your Linear layers have no bias (keep bias=True)." if count == n_in * n_hidden + n_hidden * n_out else ""
            return f"on {label}: it has {count:,} parameters, expected {expected:,} (two Linear layers with biases).{why}"
        x = torch.randn(*shape)
        try:
            net.eval()
            out = net(x)
        except RuntimeError as err:
            if "shape" in str(err) or "size" in str(err):
                return (f"on {label}: the forward pass failed ({err}). Flatten each image first: nn.Flatten() turns "
                        f"{shape} into ({shape[0]}, {n_in}).")
            raise
        if tuple(out.shape) != (shape[0], n_out):
            return f"on {label}: expected an output of shape {(shape[0], n_out)}, got {tuple(out.shape)}."
        if bool((out >= 0).all()) and torch.allclose(out.sum(1), torch.ones(shape[0]), atol=1e-5):
            return (f"on {label}: the outputs sum to 1: you applied softmax. Return the raw scores (logits); "
                    "nn.CrossEntropyLoss applies log-softmax itself.")
        with torch.no_grad():
            a, b = torch.randn(*shape), torch.randn(*shape)
            if torch.allclose(net((a + b) / 2), (net(a) + net(b)) / 2, atol=1e-5):
                return (f"on {label}: the network is linear: there is no activation between the layers, and two "
                        "Linear layers in a row are one linear map. Put nn.ReLU() between them.")
            if not torch.equal(net(x), net(x)):
                return (f"on {label}: in eval mode two passes give different outputs: dropout is still on. Use the "
                        "module nn.Dropout(p_drop), which model.eval() switches off.")
            net.train()
            if torch.equal(net(x), net(x)):
                return (f"on {label}: in training mode two passes give the same output: there is no dropout. Add "
                        "nn.Dropout(p_drop) after the ReLU.")
    return None


q6 = Exercise(
    "q6",
    "Write class TwoLayerNet(nn.Module) with __init__(self, n_in, n_hidden, n_out, p_drop=0.5): flatten the "
    "input, Linear(n_in, n_hidden), ReLU, Dropout(p_drop), Linear(n_hidden, n_out); forward returns the logits.",
    _q6_check,
    "In __init__: super().__init__(), then self.net = nn.Sequential(nn.Flatten(), nn.Linear(...), nn.ReLU(), "
    "nn.Dropout(p_drop), nn.Linear(...)). In forward: return self.net(x).",
    _two_layer_net,
    kind="code",
    objective=MODULE,
)
