"""Exercises for week 4, "CNNs on CIFAR-10" and "CIFAR-10 speedrun"."""

from __future__ import annotations

from typing import Any

from course.exercises import Exercise, choice, near

NOTEBOOK = "04a-cnns-on-cifar10"

MIB = 2**20
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
)


def _q2_solve() -> str:
    return "fp16"


def _q2_check(answer: Any) -> str | None:
    choice = str(answer).strip().lower().replace("float16", "fp16").replace("bfloat16", "bf16")
    if choice not in ("bf16", "fp16"):
        return "answer 'bf16' or 'fp16'."
    if choice == "bf16":
        return "bf16 keeps fp32's 8 exponent bits, so small gradients do not underflow; the other one does."
    return None


q2 = Exercise(
    "q2",
    "Which 16-bit format needs a GradScaler during training: 'bf16' or 'fp16'?",
    _q2_check,
    "Which format has the smaller range (fewer exponent bits)? Its smallest gradients round to zero.",
    _q2_solve,
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
)


def _q4_solve() -> str:
    return "b"


_q4_check = choice("b", {
    "a": "it is not faster: it writes the same bytes, plus a rename.",
    "c": "the file holds exactly the same data either way.",
})


q4 = Exercise(
    "q4",
    "Why does fit write a checkpoint to a temporary file and then os.replace it over the old one? "
    "(a) it is faster; (b) a crash during the write leaves the previous checkpoint intact; (c) the file is smaller",
    _q4_check,
    "What would be on disk if the power failed halfway through writing straight into resnet9.pt?",
    _q4_solve,
)


def _q5_solve() -> float:
    return 1 - 0.2 + 0.2 / 10  # label smoothing 0.2 over 10 classes: the target for the true class


def _q5_check(answer: Any) -> str | None:
    problem = near(_q5_solve(), rel=1e-3)(answer)
    if problem and isinstance(answer, int | float) and abs(answer - 0.8) < 1e-6:
        return problem + " The smoothing mass 0.2 is spread over all 10 classes, the true one included."
    return problem


q5 = Exercise(
    "q5",
    "With label_smoothing=0.2 and 10 classes, what target probability does cross-entropy give the true class?",
    _q5_check,
    "PyTorch mixes the one-hot target with the uniform distribution: (1 - 0.2) * one_hot + 0.2 / 10.",
    _q5_solve,
)
