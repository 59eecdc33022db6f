"""Exercises for week 4a, "CNNs on CIFAR-10": memory arithmetic, resuming, a residual block, batch norm."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course.exercises import Case, Exercise, LearnerError, as_number, differs, learner_call, near, same_as
from course.syllabus import objective
from helpers.presets import MIB

NOTEBOOK = "04a-cnns-on-cifar10"
RESNET = objective(NOTEBOOK, "Build a residual")
TRICKS = objective(NOTEBOOK, "Use batch normalisation,")
AMP_OBJ = objective(NOTEBOOK, "Measure mixed precision")
VRAM = objective(NOTEBOOK, "Measure peak VRAM")
RESUME = objective(NOTEBOOK, "Checkpoint atomically and")

PARAMS = 6.57e6  # ResNet-9 at width 64


def _q1_solve() -> float:
    return PARAMS * 4 * 3 / MIB  # fp32 weights + gradients + one SGD momentum buffer


_Q1_COPIES = ((1, "only the weights"), (2, "weights and gradients, but not the momentum buffer"),
              (4, "four copies: that would be Adam, which keeps two buffers"))
_q1_check = near(_q1_solve(), rel=0.03, unit="MiB", mistakes={
    **{PARAMS * 4 * copies / MIB: f"That counts {why}; SGD with momentum keeps one buffer per weight."
       for copies, why in _Q1_COPIES},
    PARAMS * 12 / 1e6: "That is in MB (10^6 bytes): divide the bytes by 2**20 for MiB.",
    PARAMS * 12 / 2**30: "That is in GiB: the question asks for MiB (divide the bytes by 2**20).",
    PARAMS * 2 * 3 / MIB: "That is 2 bytes per value (bf16); training in fp32 takes 4.",
})


q1 = Exercise(
    "q1",
    "ResNet-9 has 6.57 M parameters. Trained in fp32 with SGD + momentum, how many MiB do the weights, "
    "their gradients and the momentum buffer take together (before activations)?",
    _q1_check,
    "Three fp32 copies of every parameter, 4 bytes each; 1 MiB = 2**20 bytes.",
    _q1_solve,
    objective=VRAM,
    wrong=((PARAMS * 2 * 3 / MIB, "bf16"), ("75 MiB", "expected a number"), (78.84, "MB"), (0.0734, "GiB"),
           (100.25, "Adam")),
    right=(75, 75.2),
)

# q2: what GradScaler buys. fp16's smallest positive (subnormal) number is 2**-24; GradScaler starts at 2**16.


def _q2_solve() -> float:
    return 2.0**-24 / 2.0**16  # a gradient g survives if g * scale >= 2**-24


q2 = Exercise(
    "q2",
    "fp16's smallest positive number is 2**-24 (about 6e-8); smaller values round to zero. GradScaler starts "
    "by multiplying the loss, and so every gradient, by 2**16 = 65,536. About how small can a true gradient "
    "be and still survive the fp16 backward pass? (a number, e.g. 3.5e-6)",
    near(_q2_solve(), rel=0.05, mistakes={
        1e-12: "That is only the order of magnitude: compute the value, 2**-24 / 2**16.",
        -40.0: "That is the exponent: answer the value itself, 2**-40.",
        2.0**-24: "That is the limit without a GradScaler: the scale lets gradients 65,536 times smaller survive.",
        2.0**-14 / 2.0**16: "2**-14 is fp16's smallest *normal* number; subnormals go down to 2**-24.",
        2.0**-24 * 2.0**16: "You multiplied: the scale makes small gradients bigger, so smaller true values survive.",
    }),
    "The scaled gradient g * 65,536 must be at least 2**-24. Solve for g.",
    _q2_solve,
    objective=AMP_OBJ,
    wrong=((1e-12, "order of magnitude"), (-40, "the exponent"), (2.0**-24, "without a GradScaler")),
    right=(9.1e-13, 2**-40),
)


def _q3_solve() -> float:
    per_sample = (4.0 - 2.5) / (512 - 256)  # GiB per image in the batch
    fixed = 2.5 - 256 * per_sample  # weights, gradients, optimizer state, CUDA workspace
    return (11 - fixed) / per_sample


_q3_check = near(_q3_solve(), rel=0.03, mistakes={
    11 / 4.0 * 512: "Memory is not proportional to the batch: part of it (weights, optimizer) is fixed.",
    11 / 2.5 * 256: "Memory is not proportional to the batch: part of it (weights, optimizer) is fixed.",
    11 / (1.5 / 256): "You left out the fixed part (1 GiB: weights, optimizer, workspace): only 10 GiB are left for "
                      "the images.",
})


q3 = Exercise(
    "q3",
    "One training step peaks at 2.5 GiB at batch 256 and 4.0 GiB at batch 512. If memory grows linearly, "
    "about which batch size reaches 11 GiB?",
    _q3_check,
    "Fit a line: GiB = fixed + per_image * batch, from the two points; then solve for 11 GiB.",
    _q3_solve,
    objective=VRAM,
    wrong=((11 / 2.5 * 256, "not proportional"), (11 / (1.5 / 256), "fixed part"), (2048, "too high")),
    right=(1700, 1706),
)


def _q4_solve() -> int:
    return 1234 - 1234 // 50 * 50  # the last save was at step 1200


def _q4_check(answer: Any) -> str | None:
    value = as_number(answer)
    if value is None:
        return f"expected a number of steps, got {type(answer).__name__}."
    return None if value == _q4_solve() else {
        1234: "1234 would be starting from scratch; the checkpoint saved at step 1200 survives the crash.",
        35: "the save at step 1200 already includes step 1200: the steps after it, 1201 to 1234, are 34.",
        1200: "1200 is the step of the last save; the question asks how many steps must be run again.",
        50: "50 is the most a crash can cost with every=50; count from the last save (step 1200) to step 1234.",
        0: "fit saves every 50 steps, not every step: the steps after the last save are lost.",
        16: "16 is how far the next save (step 1250) was; count back to the last save instead.",
    }.get(value, f"{value:g} steps is not it: find the last step that was a multiple of 50.")


q4 = Exercise(
    "q4",
    "A run calls fit(..., checkpoint=CKPT, every=50). The power fails after step 1,234 finished. You call fit "
    "again with the same path: how many of the steps already done must be run again?",
    _q4_check,
    "fit saves when step % every == 0. Which was the last save before the crash?",
    _q4_solve,
    objective=RESUME,
    wrong=((1234, "starting from scratch"), (0, "not every step"), (16, "next save"), (1200, "step of the last save"),
           (True, "expected a number"), (35, "already includes step 1200"), (50, "the most a crash can cost"),
           (33, "not it"), ("34", "expected a number")),
    right=(34.0, np.int64(34), torch.tensor(34)),
)


# ---------------------------------------------------------------- q5: a residual block (code)
class BasicBlock(nn.Module):
    """He et al.'s basic block: conv-BN-ReLU, conv-BN, add the shortcut, ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:  # the shapes differ: a 1x1 conv (with the same stride) and BN
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


_BLOCK_MISTAKES = (
    (lambda b, x: F.relu(b.bn2(b.conv2(F.relu(b.bn1(b.conv1(x)))))),
     "the skip connection is missing: add self.shortcut(x) to the branch before the last ReLU."),
    (lambda b, x: F.relu(b.bn2(b.conv2(F.relu(b.bn1(b.conv1(x)))))) + b.shortcut(x),
     "the last ReLU belongs after the addition (relu(branch + shortcut)), not on the branch alone."),
    (lambda b, x: F.relu(b.conv2(b.bn1(F.relu(b.conv1(x)))) + b.shortcut(x)),
     "BatchNorm goes right after each convolution, before the ReLU (conv, BN, ReLU)."),
    (lambda b, x: F.relu(b.bn2(b.conv2(b.bn1(b.conv1(x)))) + b.shortcut(x)),
     "the ReLU between the two convolutions is missing (conv, BN, ReLU, conv, BN)."),
    (lambda b, x: F.relu(b.conv2(F.relu(b.bn1(b.conv1(x)))) + b.shortcut(x)),
     "the second BatchNorm is missing: the branch is conv, BN, ReLU, conv, BN (bn2 right after conv2)."),
    (lambda b, x: F.relu(b.bn2(b.conv2(F.relu(b.bn1(b.conv1(x)))) + b.shortcut(x))),
     "bn2 goes on the branch, before the addition (bn2(conv2(out)) + shortcut(x)), not on the sum."),
    (lambda b, x: F.relu(b.bn1(b.conv2(F.relu(b.bn1(b.conv1(x))))) + b.shortcut(x)),
     "you used bn1 after both convolutions: each convolution has its own BatchNorm, conv2 is followed by bn2."),
)

# (c_in, c_out, stride, input shape): every argument varies, and the shortcut is needed for a new stride alone,
# for new channels alone, and for both.
_BLOCK_CASES = ((8, 8, 1, (2, 8, 8, 8)), (4, 8, 2, (3, 4, 9, 9)), (6, 12, 1, (2, 6, 6, 5)), (8, 8, 2, (2, 8, 8, 8)))


def _reference_block(c_in: int, c_out: int, stride: int, seed: int) -> BasicBlock:
    torch.manual_seed(seed)
    block = BasicBlock(c_in, c_out, stride)
    with torch.no_grad():  # BN with non-trivial parameters and statistics, so every mistake shows
        for m in (m for m in block.modules() if isinstance(m, nn.BatchNorm2d)):
            for t, low, high in ((m.weight, 0.5, 1.5), (m.bias, -0.5, 0.5), (m.running_mean, -0.5, 0.5),
                                 (m.running_var, 0.5, 2.0)):
                t.uniform_(low, high)
    return block


def _copy_weights(block: nn.Module, ref: BasicBlock, label: str) -> str | None:
    """Load the reference's weights into the learner's block: the main layers by name, the shortcut's in order
    (any names inside it will do). Returns what does not match, or None."""
    mine, theirs = block.state_dict(), ref.state_dict()
    main_mine = {k for k in mine if not k.startswith("shortcut.")}
    main_theirs = {k for k in theirs if not k.startswith("shortcut.")}
    if main_mine != main_theirs:
        if any("bias" in k and k.startswith("conv") for k in main_mine - main_theirs):
            return f"{label}: give the convolutions bias=False; the BatchNorm right after has its own bias."
        return (f"{label}: its layers do not match the docstring's (extra: {sorted(main_mine - main_theirs)}, "
                f"missing: {sorted(main_theirs - main_mine)}).")
    short_mine = [k for k in mine if k.startswith("shortcut.")]
    short_theirs = [k for k in theirs if k.startswith("shortcut.")]
    if not short_theirs and short_mine:
        return f"{label}: the shapes match, so the shortcut should be nn.Identity() (no parameters)."
    if short_theirs and not short_mine:
        return (f"{label}: the block changes the shape (stride or channels), so the shortcut needs a 1x1 conv with "
                "that stride followed by a BatchNorm; yours has no parameters.")
    if [tuple(mine[k].shape) for k in short_mine] != [tuple(theirs[k].shape) for k in short_theirs]:
        return (f"{label}: the shortcut should be a 1x1 conv (stride {ref.conv1.stride[0]}, bias=False) followed by "
                f"a BatchNorm; its tensors have the shapes {[tuple(mine[k].shape) for k in short_mine]}.")
    mapping = {k: theirs[k] for k in main_theirs} | {a: theirs[b] for a, b in zip(short_mine, short_theirs, strict=True)}
    block.load_state_dict(mapping)
    return None


def _q5_check(answer: Any) -> str | None:
    if not isinstance(answer, type) or not issubclass(answer, nn.Module):
        return "pass your class itself (BasicBlock, not BasicBlock(...)), a subclass of nn.Module."
    with torch.random.fork_rng(devices=[]):  # the checker's seeds leave the notebook's random state alone
        return _q5_cases(answer)


def _q5_cases(answer: type) -> str | None:
    default = learner_call(answer, 8, 8)  # stride left out: it must default to 1
    if getattr(getattr(default, "conv1", None), "stride", (1, 1)) != (1, 1):
        return (f"BasicBlock(8, 8) made conv1 with stride {default.conv1.stride}: the stride argument defaults to 1 "
                "(def __init__(self, c_in, c_out, stride=1)).")
    for c_in, c_out, stride, shape in _BLOCK_CASES:
        label = f"BasicBlock({c_in}, {c_out}, stride={stride})"
        block = learner_call(answer, c_in, c_out, stride)
        ref = _reference_block(c_in, c_out, stride, seed=c_in + stride)
        for name in ("conv1", "bn1", "conv2", "bn2", "shortcut"):
            if not isinstance(getattr(block, name, None), nn.Module):
                return f"{label} has no layer self.{name}: use the names the docstring gives."
        problem = _copy_weights(block, ref, label)
        if problem:
            return problem
        for name in ("conv1", "conv2"):
            if getattr(getattr(block, name), "padding", None) not in ((1, 1), "same"):
                return (f"{label}: {name} has padding {getattr(getattr(block, name), 'padding', None)}; a 3x3 conv "
                        "needs padding=1 to keep the image size, so that the branch and the shortcut can be added.")
        if getattr(block.conv1, "stride", None) != ref.conv1.stride:
            return (f"{label}: conv1 must take stride={stride} (stride 2 halves the image, and the shortcut's 1x1 "
                    f"conv does the same); its stride is {getattr(block.conv1, 'stride', None)}.")
        x = torch.randn(shape, generator=torch.Generator().manual_seed(c_out + stride))
        for mode in ("train", "eval"):
            block.train(mode == "train")
            ref.train(mode == "train")
            where = f"on {label} with x of shape {tuple(x.shape)}, {mode} mode"
            x_in = x.clone()
            with torch.no_grad():
                try:
                    got = learner_call(block, x_in)
                except LearnerError as err:
                    if stride != 1 or c_in != c_out:
                        return (f"{where}: {err} (when the block changes the shape, add self.shortcut(x), which "
                                "brings x to the new shape, not x itself).")
                    raise
                expected = ref(x.clone())
            if not torch.equal(x_in, x):
                return f"{where}: your forward changed its input x in place (an in-place ReLU on x?); x is still needed."
            if isinstance(got, torch.Tensor) and got.shape != expected.shape:
                return (f"{where}: the output has shape {tuple(got.shape)}, expected {tuple(expected.shape)}: conv1 "
                        "and the shortcut's 1x1 conv both take stride=stride.")
            problem = differs(got, expected, rtol=1e-4, atol=1e-5)
            if problem is None:
                continue
            for wrong, why in _BLOCK_MISTAKES:
                try:
                    with torch.no_grad():  # like the learner's output: compared as numbers, without a graph
                        mistaken = wrong(ref, x.clone())
                    if differs(got, mistaken) is None:
                        return f"{where}: {why}"
                except Exception:  # noqa: BLE001,S112 - a wrong form may not run on this shape
                    continue
            return f"{where}: {problem}"
    return None


def _variant(forward: Any = None, change: Any = None) -> type:
    """The reference block with another forward, or one layer changed: a typical mistake, as a class."""

    class Variant(BasicBlock):
        def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
            super().__init__(c_in, c_out, stride)
            if change is not None:
                setattr(self, *change(c_in, c_out, stride))

    if forward is not None:
        Variant.forward = lambda self, x: forward(self, x)
    return Variant


class _StrideTwoByDefault(BasicBlock):
    def __init__(self, c_in: int, c_out: int, stride: int = 2) -> None:
        super().__init__(c_in, c_out, stride)


class _BlockNamedShortcut(nn.Module):
    """Right, in another style: the shortcut defined first, with named layers; torch.relu, torch.add."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.shortcut = nn.Sequential(OrderedDict(
            project=nn.Conv2d(c_in, c_out, kernel_size=1, stride=stride, bias=False),
            norm=nn.BatchNorm2d(c_out))) if stride != 1 or c_in != c_out else nn.Identity()
        self.conv1 = nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(torch.add(self.shortcut(x), branch))


q5 = Exercise(
    "q5",
    "Write the classic ResNet basic block as an nn.Module BasicBlock(c_in, c_out, stride=1): "
    "conv3x3(stride) -> BN -> ReLU -> conv3x3 -> BN, plus a shortcut, then a ReLU after the addition. "
    "When the shape changes (stride 2 or c_in != c_out) the shortcut is a 1x1 conv with that stride and a BN.",
    _q5_check,
    "Name the layers conv1, bn1, conv2, bn2, shortcut (convs with bias=False; nn.Identity() when the shapes "
    "match). forward: out = relu(bn1(conv1(x))); out = bn2(conv2(out)); return relu(out + shortcut(x)).",
    lambda: BasicBlock,
    objective=RESNET,
    kind="code",
    wrong=(*((_variant(wrong), why.split(":")[0]) for wrong, why in _BLOCK_MISTAKES),
           (_variant(change=lambda i, o, s: ("conv1", nn.Conv2d(i, o, 3, stride=s, padding=1))), "bias=False"),
           (_variant(change=lambda i, o, s: ("shortcut", nn.Identity())), "needs a 1x1 conv"),
           (_variant(change=lambda i, o, s: ("conv1", nn.Conv2d(i, o, 3, padding=1, bias=False))), "stride"),
           (_variant(lambda b, x: (BasicBlock.forward(b, x), F.relu_(x))[0]), "changed its input x in place"),
           (_variant(lambda b, x: F.relu(b.bn2(b.conv2(F.relu(b.bn1(b.conv1(x))))) + x)), "not x itself"),
           (BasicBlock(4, 4), "pass your class itself"),
           (_variant(change=lambda i, o, s: ("conv2", nn.Conv2d(o, o, 3, padding=0, bias=False))), "padding=1"),
           (_StrideTwoByDefault, "defaults to 1")),
    right=(_BlockNamedShortcut,),
)


# ---------------------------------------------------------------- q6: batch normalisation (code)
def batch_norm_train(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """BatchNorm2d in training mode: normalise each channel over the batch and the pixels, then scale, shift."""
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * gamma.view(1, -1, 1, 1) + beta.view(1, -1, 1, 1)


def _bn(x, gamma, beta, eps=1e-5, dims=(0, 2, 3), unbiased=False, eps_inside=True, root=True):
    """Batch norm with the knobs the typical mistakes turn (which dims, which variance, where eps goes)."""
    mean = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, unbiased=unbiased, keepdim=True)
    scale = (torch.sqrt(var + eps) if root else var + eps) if eps_inside else torch.sqrt(var) + eps
    return (x - mean) / scale * gamma.view(1, -1, 1, 1) + beta.view(1, -1, 1, 1)


def _bn_in_place(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    x.sub_(mean).div_(torch.sqrt(var + eps))  # overwrites the caller's batch
    return x * gamma.view(1, -1, 1, 1) + beta.view(1, -1, 1, 1)


def _bn_shift_then_scale(x, gamma, beta, eps=1e-5):
    normalised = _bn(x, torch.ones_like(gamma), torch.zeros_like(beta), eps)
    return (normalised + beta.view(1, -1, 1, 1)) * gamma.view(1, -1, 1, 1)


def _bn_with_a_new_layer(x, gamma, beta, eps=1e-5):
    layer = nn.BatchNorm2d(x.shape[1], eps=eps).to(x.dtype)
    with torch.no_grad():  # copies the numbers: the output is cut off from the caller's gamma and beta
        layer.weight.copy_(gamma)
        layer.bias.copy_(beta)
    return layer(x)


def _bn_with_the_library(x, gamma, beta, eps=1e-5):
    return F.batch_norm(x, None, None, weight=gamma, bias=beta, training=True, eps=eps)


def _bn_channel_loop(x, gamma, beta, eps=1e-5):
    out = torch.empty_like(x)
    for c in range(x.shape[1]):
        values = x[:, c]
        mean = values.sum() / values.numel()
        var = ((values - mean) ** 2).sum() / values.numel()
        out[:, c] = gamma[c] * (values - mean) / (var + eps) ** 0.5 + beta[c]
    return out


def _same_dtype_and_values(got: Any, expected: torch.Tensor) -> str | None:
    if isinstance(got, torch.Tensor) and got.dtype != expected.dtype:
        return f"x came in as {expected.dtype} and went out as {got.dtype}: keep x's dtype."
    return differs(got, expected, rtol=1e-4, atol=1e-5)


def _bn_cases() -> list[Case]:
    g = torch.Generator().manual_seed(4)
    x = torch.randn(4, 3, 5, 5, generator=g) * torch.tensor([1.0, 3.0, 0.2]).view(1, 3, 1, 1) + 2
    gamma, beta = torch.tensor([1.0, 0.5, 2.0]), torch.tensor([0.0, -1.0, 0.3])
    const = x.clone()
    const[:, 1] = 7.0  # a dead channel: every value the same, variance 0
    quiet = (torch.randn(3, 2, 4, 6, generator=g, dtype=torch.float64) * torch.tensor([0.05, 1.0], dtype=torch.float64)
             .view(1, 2, 1, 1))  # channel 0 varies by about as much as eps: eps matters
    x4 = torch.randn(5, 4, 3, 3, generator=g) - 1
    return [
        Case("a batch of 4 images, 3 channels of different scales", (x, gamma, beta)),
        Case("a batch of 2 images of 2x2 pixels", (x[:2, :, :2, :2].clone(), gamma, beta)),
        Case("a batch whose channel 1 is constant (variance 0)", (const, gamma, beta)),
        Case("3 float64 images of 2 channels, 4x6 pixels, eps=1e-2 (channel 0 barely varies)",
             (quiet, torch.tensor([1.5, -0.5], dtype=torch.float64), torch.tensor([0.2, 0.0], dtype=torch.float64)),
             {"eps": 1e-2}),
        Case("5 images of 4 channels, 3x3 pixels, eps=0.1 passed by position",
             (x4, torch.tensor([0.3, 1.0, 2.0, -1.0]), torch.tensor([1.0, 0.0, -2.0, 0.5]), 0.1)),
    ]


def _bn_gradients(answer: Any) -> str | None:
    """The output must stay connected to x, gamma and beta, with BatchNorm's gradients (it trains inside a net)."""
    g = torch.Generator().manual_seed(7)
    x = torch.randn(3, 2, 4, 4, generator=g, dtype=torch.float64) * 2 + 1
    gamma, beta = torch.tensor([1.5, 0.5], dtype=torch.float64), torch.tensor([0.2, -1.0], dtype=torch.float64)
    upstream = torch.randn(x.shape, generator=g, dtype=torch.float64)  # a gradient from the layers above
    grads = []
    for fn in (answer, batch_norm_train):
        leaves = [t.clone().requires_grad_() for t in (x, gamma, beta)]
        out = learner_call(fn, *leaves) if fn is answer else fn(*leaves)
        if not (isinstance(out, torch.Tensor) and out.requires_grad):
            return ("your output is cut off from x, gamma and beta (torch.no_grad(), .detach(), or a new tensor?): "
                    "BatchNorm trains inside a network, so the gradient must flow back through it.")
        grads.append(torch.autograd.grad((out * upstream).sum(), leaves, allow_unused=True))
    for name, mine, ref in zip(("x", "gamma", "beta"), *grads, strict=True):
        if mine is None:
            return (f"your output is cut off from {name}: the gradient cannot reach it (were its values copied into "
                    "a new layer or tensor?). Compute the output from the arguments themselves.")
        if not torch.allclose(mine, ref, rtol=1e-6, atol=1e-8):
            return (f"the gradient with respect to {name} differs from BatchNorm's: keep every step a tensor "
                    "operation on the arguments (no .item(), no values computed outside autograd).")
    return None


def _bn_check(answer: Any) -> str | None:
    return _bn_same(answer) or (_bn_gradients(answer) if callable(answer) else None)


_bn_same = same_as(batch_norm_train, _bn_cases, compare=_same_dtype_and_values, mistakes=[
    (lambda x, g, b, eps=1e-5: _bn(x, g, b, eps, dims=(1, 2, 3)),
     "you normalised each image on its own (dims 1, 2, 3): BatchNorm pools each channel over the batch and "
     "the pixels, dims (0, 2, 3)."),
    (lambda x, g, b, eps=1e-5: _bn(x, g, b, eps, dims=0),
     "you averaged over the batch only (dim 0): BatchNorm2d also pools the pixels, dims (0, 2, 3)."),
    (lambda x, g, b, eps=1e-5: _bn(x, g, b, eps, unbiased=True),
     "you used the unbiased variance (divided by n - 1): normalising uses the biased one, "
     "x.var(..., unbiased=False)."),
    (lambda x, g, b, eps=1e-5: _bn(x, g, b, 0.0),
     "eps is missing: sqrt(var + eps) keeps a (nearly) constant channel from dividing by (almost) 0."),
    (lambda x, g, b, eps=1e-5: _bn(x, g, b, eps, eps_inside=False),
     "eps goes inside the square root: sqrt(var + eps), not std + eps."),
    (lambda x, g, b, eps=1e-5: _bn(x, g, b), "you ignored the eps argument (always 1e-5): use the eps the caller passes."),
    (lambda x, g, b, eps=1e-5: _bn(x, b, g, eps),
     "gamma and beta are swapped: multiply by gamma (the scale), then add beta (the shift)."),
    (lambda x, g, b, eps=1e-5: _bn(x.float(), g.float(), b.float(), eps),
     "you converted to float32 (x.float()?): keep x's dtype, float64 in, float64 out."),
    (lambda x, g, b, eps=1e-5: _bn(x, g, b, eps, dims=(2, 3)),
     "you normalised each image's channel on its own (dims 2, 3: instance norm): BatchNorm pools each channel "
     "over the whole batch too, dims (0, 2, 3)."),
    (lambda x, g, b, eps=1e-5: _bn(x, torch.ones_like(g), torch.zeros_like(b), eps),
     "gamma and beta are missing: multiply the normalised values by gamma[c], then add beta[c]."),
    (lambda x, g, b, eps=1e-5: _bn(x, g, b, eps, root=False),
     "you divided by the variance: divide by the standard deviation, torch.sqrt(var + eps)."),
    (_bn_shift_then_scale, "you added beta before multiplying by gamma: scale first, then shift, "
                           "gamma * x_hat + beta."),
    (lambda x, g, b, eps=1e-5: (x / (1 + eps) ** 0.5) * g.view(1, -1, 1, 1) + b.view(1, -1, 1, 1),
     "you normalised with fixed statistics (mean 0, variance 1), as evaluation mode does with fresh running "
     "statistics: in training, use this batch's own mean and variance."),
], alternatives=[_bn_with_the_library, _bn_channel_loop])


q6 = Exercise(
    "q6",
    "Write batch_norm_train(x, gamma, beta, eps=1e-5): what nn.BatchNorm2d computes in training mode for "
    "x of shape N x C x H x W. Each channel is normalised with the mean and variance of all its values in the "
    "batch (every image, every pixel), then multiplied by gamma[c] and shifted by beta[c]. Keep x's dtype, and "
    "leave x itself unchanged.",
    _bn_check,
    "mean = x.mean(dim=(0, 2, 3), keepdim=True); var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True); "
    "then (x - mean) / sqrt(var + eps), and gamma, beta reshaped to 1 x C x 1 x 1.",
    lambda: batch_norm_train,
    kind="code",
    objective=TRICKS,
    wrong=(*_bn_same.mistakes, (_bn_in_place, "changed its argument 1 in place"),
           (_bn_with_a_new_layer, "cut off from"),
           (lambda x, g, b, eps=1e-5: batch_norm_train(x, g, b, eps).detach(), "cut off from")),
    right=_bn_same.alternatives,
)
