"""Exercises for week 4a, "CNNs on CIFAR-10": memory arithmetic, resuming, a residual block, batch norm."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from course.exercises import Case, Exercise, differs, learner_call, near, same_as
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


def _q1_check(answer: Any) -> str | None:
    problem = near(_q1_solve(), rel=0.03, unit="MiB")(answer)
    if problem and isinstance(answer, int | float):
        for copies, why in ((1, "only the weights"), (2, "weights and gradients, but not the momentum buffer"),
                            (4, "four copies: that would be Adam, which keeps two buffers")):
            if abs(answer - PARAMS * 4 * copies / MIB) < 1.5:
                return problem + f" That counts {why}; SGD with momentum keeps one buffer per weight."
    return problem


q1 = Exercise(
    "q1",
    "ResNet-9 has 6.57 M parameters. Trained in fp32 with SGD + momentum, how many MiB do the weights, "
    "their gradients and the momentum buffer take together (before activations)?",
    _q1_check,
    "Three fp32 copies of every parameter, 4 bytes each; 1 MiB = 2**20 bytes.",
    _q1_solve,
    objective=VRAM,
)

# q2: what GradScaler buys. fp16's smallest positive (subnormal) number is 2**-24; GradScaler starts at 2**16.


def _q2_solve() -> float:
    return 2.0**-24 / 2.0**16  # a gradient g survives if g * scale >= 2**-24


q2 = Exercise(
    "q2",
    "fp16's smallest positive number is 2**-24 (about 6e-8); smaller values round to zero. GradScaler starts "
    "by multiplying the loss, and so every gradient, by 2**16 = 65,536. About how small can a true gradient "
    "be and still survive the fp16 backward pass? (a number such as 1e-12)",
    near(_q2_solve(), rel=0.05, mistakes={
        2.0**-24: "That is the limit without a GradScaler: the scale lets gradients 65,536 times smaller survive.",
        2.0**-14 / 2.0**16: "2**-14 is fp16's smallest *normal* number; subnormals go down to 2**-24.",
        2.0**-24 * 2.0**16: "You multiplied: the scale makes small gradients bigger, so smaller true values survive.",
    }),
    "The scaled gradient g * 65,536 must be at least 2**-24. Solve for g.",
    _q2_solve,
    objective=AMP_OBJ,
)


def _q3_solve() -> float:
    per_sample = (4.0 - 2.5) / (512 - 256)  # GiB per image in the batch
    fixed = 2.5 - 256 * per_sample  # weights, gradients, optimizer state, CUDA workspace
    return (11 - fixed) / per_sample


def _q3_check(answer: Any) -> str | None:
    problem = near(_q3_solve(), rel=0.03)(answer)
    if problem and isinstance(answer, int | float) and abs(answer - 11 / 4.0 * 512) < 30:
        return problem + " Memory is not proportional to the batch: part of it (weights, optimizer) is fixed."
    return problem


q3 = Exercise(
    "q3",
    "One training step peaks at 2.5 GiB at batch 256 and 4.0 GiB at batch 512. If memory grows linearly, "
    "about which batch size reaches 11 GiB?",
    _q3_check,
    "Fit a line: GiB = fixed + per_image * batch, from the two points; then solve for 11 GiB.",
    _q3_solve,
    objective=VRAM,
)


def _q4_solve() -> int:
    return 1234 - 1234 // 50 * 50  # the last save was at step 1200


def _q4_check(answer: Any) -> str | None:
    if isinstance(answer, bool) or not isinstance(answer, int | float):
        return f"expected a number of steps, got {type(answer).__name__}."
    if answer == _q4_solve():
        return None
    if answer == 1234:
        return "1234 would be starting from scratch; the checkpoint saved at step 1200 survives the crash."
    if answer == 0:
        return "fit saves every 50 steps, not every step: the steps after the last save are lost."
    if answer == 16:
        return "16 is how far the next save (step 1250) was; count back to the last save instead."
    return f"{answer:g} steps is not it: find the last step that was a multiple of 50."


q4 = Exercise(
    "q4",
    "A run calls fit(..., checkpoint=CKPT, every=50). The power fails after step 1,234 finished. You call fit "
    "again with the same path: how many of the steps already done must be run again?",
    _q4_check,
    "fit saves when step % every == 0. Which was the last save before the crash?",
    _q4_solve,
    objective=RESUME,
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
    (lambda b, x: F.relu(b.bn2(b.conv2(F.relu(b.bn1(b.conv1(x))))) + x),
     "the shortcut is skipped: add self.shortcut(x), not x (they differ when the block changes shape)."),
    (lambda b, x: F.relu(b.conv2(b.bn1(F.relu(b.conv1(x)))) + b.shortcut(x)),
     "BatchNorm goes right after each convolution, before the ReLU (conv, BN, ReLU)."),
    (lambda b, x: F.relu(b.bn2(b.conv2(b.bn1(b.conv1(x)))) + b.shortcut(x)),
     "the ReLU between the two convolutions is missing (conv, BN, ReLU, conv, BN)."),
)


def _reference_block(c_in: int, c_out: int, stride: int, seed: int) -> BasicBlock:
    torch.manual_seed(seed)
    block = BasicBlock(c_in, c_out, stride)
    with torch.no_grad():  # BN with non-trivial parameters and statistics, so every mistake shows
        for m in block.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return block


def _q5_check(answer: Any) -> str | None:
    if not isinstance(answer, type) or not issubclass(answer, nn.Module):
        return "pass your class itself (BasicBlock, not BasicBlock(...)), a subclass of nn.Module."
    for c_in, c_out, stride in ((8, 8, 1), (4, 8, 2)):
        label = f"BasicBlock({c_in}, {c_out}, stride={stride})"
        block = learner_call(answer, c_in, c_out, stride)
        ref = _reference_block(c_in, c_out, stride, seed=c_in + stride)
        for name in ("conv1", "bn1", "conv2", "bn2", "shortcut"):
            if not isinstance(getattr(block, name, None), nn.Module):
                return f"{label} has no layer self.{name}: use the names the docstring gives."
        if stride == 1 and c_in == c_out and sum(p.numel() for p in block.shortcut.parameters()):
            return f"{label}: the shapes match, so the shortcut should be nn.Identity() (no parameters)."
        mine, theirs = set(block.state_dict()), set(ref.state_dict())
        if mine != theirs:
            if any("bias" in k and k.startswith("conv") for k in mine - theirs):
                return f"{label}: give the convolutions bias=False; the BatchNorm right after has its own bias."
            return (f"{label}: its layers do not match the docstring's (extra: {sorted(mine - theirs)}, "
                    f"missing: {sorted(theirs - mine)}).")
        block.load_state_dict(ref.state_dict())
        torch.manual_seed(1)
        x = torch.randn(2, c_in, 8, 8)
        for mode in ("train", "eval"):
            block.train(mode == "train")
            ref.train(mode == "train")
            with torch.no_grad():
                got = learner_call(block, x.clone())
                expected = ref(x.clone())
                problem = differs(got, expected, rtol=1e-4, atol=1e-5)
                if problem is None:
                    continue
                for wrong, why in _BLOCK_MISTAKES:
                    try:
                        if differs(got, wrong(ref, x.clone())) is None:
                            return f"on {label}, {mode} mode: {why}"
                    except Exception:  # noqa: BLE001,S112 - a wrong form may not run on this shape
                        continue
                return f"on {label} with x of shape {tuple(x.shape)}, {mode} mode: {problem}"
    return None


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
)


# ---------------------------------------------------------------- q6: batch normalisation (code)
def batch_norm_train(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """BatchNorm2d in training mode: normalise each channel over the batch and the pixels, then scale, shift."""
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * gamma.view(1, -1, 1, 1) + beta.view(1, -1, 1, 1)


def _bn_per_image(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    var = x.var(dim=(1, 2, 3), unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * gamma.view(1, -1, 1, 1) + beta.view(1, -1, 1, 1)


def _bn_batch_only(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=0, keepdim=True)
    var = x.var(dim=0, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * gamma.view(1, -1, 1, 1) + beta.view(1, -1, 1, 1)


def _bn_unbiased(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), keepdim=True)  # unbiased (n - 1): what BN keeps as running_var, not what it uses
    return (x - mean) / torch.sqrt(var + eps) * gamma.view(1, -1, 1, 1) + beta.view(1, -1, 1, 1)


def _bn_no_eps(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var) * gamma.view(1, -1, 1, 1) + beta.view(1, -1, 1, 1)


def _bn_std_eps(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    std = x.std(dim=(0, 2, 3), unbiased=False, keepdim=True)
    return (x - mean) / (std + eps) * gamma.view(1, -1, 1, 1) + beta.view(1, -1, 1, 1)


def _bn_cases() -> list[Case]:
    g = torch.Generator().manual_seed(4)
    x = torch.randn(4, 3, 5, 5, generator=g) * torch.tensor([1.0, 3.0, 0.2]).view(1, 3, 1, 1) + 2
    gamma, beta = torch.tensor([1.0, 0.5, 2.0]), torch.tensor([0.0, -1.0, 0.3])
    const = x.clone()
    const[:, 1] = 7.0  # a dead channel: every value the same, variance 0
    return [
        Case("a batch of 4 images, 3 channels of different scales", (x, gamma, beta)),
        Case("a batch of 2 images of 2x2 pixels", (x[:2, :, :2, :2].clone(), gamma, beta)),
        Case("a batch whose channel 1 is constant (variance 0)", (const, gamma, beta)),
    ]


q6 = Exercise(
    "q6",
    "Write batch_norm_train(x, gamma, beta, eps=1e-5): what nn.BatchNorm2d computes in training mode for "
    "x of shape N x C x H x W. Each channel is normalised with the mean and variance of all its values in the "
    "batch (every image, every pixel), then multiplied by gamma[c] and shifted by beta[c].",
    same_as(batch_norm_train, _bn_cases, mistakes=[
        (_bn_per_image, "you normalised each image on its own (dims 1, 2, 3): BatchNorm pools each channel "
                        "over the batch and the pixels, dims (0, 2, 3)."),
        (_bn_batch_only, "you averaged over the batch only (dim 0): BatchNorm2d also pools the pixels, dims (0, 2, 3)."),
        (_bn_unbiased, "you used the unbiased variance (divided by n - 1): normalising uses the biased one, "
                       "x.var(..., unbiased=False)."),
        (_bn_no_eps, "eps is missing: a constant channel divides 0 by 0. Use sqrt(var + eps)."),
        (_bn_std_eps, "eps goes inside the square root: sqrt(var + eps), not std + eps."),
    ]),
    "mean = x.mean(dim=(0, 2, 3), keepdim=True); var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True); "
    "then (x - mean) / sqrt(var + eps), and gamma, beta reshaped to 1 x C x 1 x 1.",
    lambda: batch_norm_train,
    objective=TRICKS,
)
