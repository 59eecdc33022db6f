"""Exercises for week 7, "LoRA and QLoRA": prompt masking and a LoRA layer in code, adapter size, optimizer state, merging."""

from __future__ import annotations

import math
from typing import Any

from course.exercises import Case, Exercise, choice, differs, learner_call, near, same_as
from course.syllabus import objective
from helpers.presets import GIB

NOTEBOOK = "07a-lora-and-qlora"


OBJ_MASK = objective(NOTEBOOK, "Format instruction data")
OBJ_LORA = objective(NOTEBOOK, "Explain LoRA's update")
OBJ_MEMORY = objective(NOTEBOOK, "Choose a base")
OBJ_MERGE = objective(NOTEBOOK, "Merge the adapter")


# q1 (code): prompt masking on a padded batch of token ids.
def _mask_prompt(input_ids, prompt_lengths):
    """Return labels: a copy of input_ids with the first prompt_lengths[i] tokens of row i set to -100."""
    labels = input_ids.clone()  # a copy: input_ids itself must stay unchanged
    for i, n in enumerate(prompt_lengths):
        labels[i, :n] = -100  # the loss skips -100; transformers shifts the labels by one itself
    return labels


def _mask_cases() -> list[Case]:
    import torch

    ids = torch.tensor([[1, 50, 51, 52, 9, 70, 71, 2], [1, 60, 9, 80, 81, 82, 83, 2]])
    return [Case("a batch of two rows with prompts of 5 and 3 tokens", (ids, [5, 3])),
            Case("one row whose prompt is 2 tokens", (torch.tensor([[1, 9, 40, 41, 2]]), [2])),
            Case("a row with no prompt (length 0)", (torch.tensor([[7, 8, 9]]), [0])),
            Case("a row that is all prompt", (torch.tensor([[7, 8, 9, 10]]), [4]))]


def _mask_answer(input_ids, prompt_lengths):
    labels = input_ids.clone()
    for i, n in enumerate(prompt_lengths):
        labels[i, n:] = -100
    return labels


def _no_mask(input_ids, prompt_lengths):
    return input_ids.clone()


def _mask_with_zero(input_ids, prompt_lengths):
    labels = input_ids.clone()
    for i, n in enumerate(prompt_lengths):
        labels[i, :n] = 0
    return labels


def _first_length_everywhere(input_ids, prompt_lengths):
    labels = input_ids.clone()
    labels[:, : prompt_lengths[0]] = -100
    return labels


def _shifted_by_hand(input_ids, prompt_lengths):
    import torch

    labels = torch.cat([input_ids[:, 1:], torch.full_like(input_ids[:, :1], -100)], dim=1)
    for i, n in enumerate(prompt_lengths):
        labels[i, : max(n - 1, 0)] = -100
    return labels


def _q1_check(answer: Any) -> str | None:

    problem = same_as(_mask_prompt, _mask_cases, mistakes=[
        (_mask_answer, "you masked the answer instead of the prompt: the model would learn to write questions."),
        (_no_mask, "nothing is masked: with labels equal to the inputs the model also learns the prompts."),
        (_mask_with_zero, "0 is a real token id; PyTorch's cross-entropy skips only -100."),
        (_first_length_everywhere, "every row has its own prompt length: use prompt_lengths[i] for row i."),
        (_shifted_by_hand, "don't shift the labels yourself: transformers shifts them by one inside the model."),
    ])(answer)
    return problem


q1 = Exercise(
    "q1",
    "Write mask_prompt(input_ids, prompt_lengths): input_ids is a (batch x length) tensor of token ids and "
    "prompt_lengths a list with the prompt length of each row. Return the labels that train only the answers.",
    _q1_check,
    "Start from input_ids.clone(); in row i set the first prompt_lengths[i] positions to -100. "
    "Do not shift anything: the model does that.",
    lambda: _mask_prompt,
    objective=OBJ_MASK,
    kind="code",
)

D, R = 4096, 16


def _q2_solve() -> int:
    return R * (D + D)  # A is r x d_in, B is d_out x r


def _q2_check(answer: Any) -> str | None:
    if isinstance(answer, bool) or not isinstance(answer, int | float):
        return "expected a number of parameters."
    if answer == _q2_solve():
        return None
    if answer == D * D:
        return "that is the frozen matrix W itself; LoRA trains two thin matrices A and B."
    if answer == R * D:
        return "that is only one of the two LoRA matrices: count A (r x d_in) and B (d_out x r)."
    if answer == R * R:
        return "A and B are r x d and d x r, not r x r."
    return near(_q2_solve(), rel=0.0)(answer)


q2 = Exercise(
    "q2",
    f"A {D} x {D} projection gets a LoRA adapter of rank r = {R}. How many trainable parameters does it add?",
    _q2_check,
    "LoRA adds B @ A with A of shape (r, d_in) and B of shape (d_out, r).",
    _q2_solve,
    objective=OBJ_LORA,
)

TRAINABLE = 40e6


def _q3_solve() -> float:
    return TRAINABLE * 2 * 4 / GIB  # AdamW: two fp32 states (mean and variance) per trainable parameter


def _q3_check(answer: Any) -> str | None:
    problem = near(_q3_solve(), rel=0.03, unit="GiB")(answer)
    if problem and isinstance(answer, int | float) and not isinstance(answer, bool):
        if math.isclose(answer, _q3_solve() / 2, rel_tol=0.03):
            return problem + " AdamW keeps two states per parameter (the mean and the variance of the gradients)."
        if math.isclose(answer, TRAINABLE * 2 * 4 / 1e9, rel_tol=0.03):
            return problem + " That is in GB (10^9 bytes); divide by 2**30 for GiB."
        if math.isclose(answer, TRAINABLE * 2 * 1 / GIB, rel_tol=0.03):
            return problem + " That is the 8-bit optimizer; torch.optim.AdamW keeps fp32 states (4 bytes)."
    return problem


q3 = Exercise(
    "q3",
    "An adapter has 40 million fp32 trainable parameters. How many GiB does torch.optim.AdamW's state take?",
    _q3_check,
    "Two states per trainable parameter, each in the parameter's dtype (fp32: 4 bytes); 1 GiB = 2**30 bytes.",
    _q3_solve,
    objective=OBJ_MEMORY,
)

q4 = Exercise(
    "q4",
    "After merged = model.merge_and_unload(), what does each adapted layer of the merged model compute? "
    "(a) (W + (alpha/r)·B·A) x with a single matrix and no extra parameters; "
    "(b) W x + (alpha/r)·B·A x, with A and B kept beside W; (c) W x only: merging drops the adapter",
    choice("a", {"b": "that is the layer before merging (peft's LoRA layer); merging folds the update into W, "
                      "so A and B are gone and no extra matmul runs.",
                 "c": "then the fine-tuning would be lost: merging adds the update (alpha/r)·B·A into W."}),
    "merge_and_unload returns a plain transformers model: no peft layers are left in it.",
    lambda: "a",
    objective=OBJ_MERGE,
)


# q5 (code): a LoRA linear layer.
def _lora_reference() -> type:
    import torch
    from torch import nn

    class LoRALinear(nn.Module):
        """A frozen nn.Linear plus a LoRA update: base(x) + (alpha / r) * x A^T B^T, with B starting at zero."""

        def __init__(self, base: nn.Linear, r: int, alpha: float):
            super().__init__()
            self.base = base
            self.base.requires_grad_(False)  # the base weight stays frozen
            self.A = nn.Parameter(torch.randn(r, base.in_features) / r)  # small random values
            self.B = nn.Parameter(torch.zeros(base.out_features, r))  # zero: training starts from the base model
            self.scaling = alpha / r

        def forward(self, x):
            return self.base(x) + self.scaling * (x @ self.A.T @ self.B.T)

    return LoRALinear


IN, OUT, RANK, ALPHA = 12, 10, 4, 8.0


def _q5_check(answer: Any) -> str | None:
    import torch
    from torch import nn

    if not isinstance(answer, type) or not issubclass(answer, nn.Module):
        return "pass the class itself (LoRALinear, without calling it): an nn.Module subclass."
    torch.manual_seed(0)
    base = nn.Linear(IN, OUT)
    weight = base.weight.detach().clone()
    layer = learner_call(answer, base, r=RANK, alpha=ALPHA)
    a, b = getattr(layer, "A", None), getattr(layer, "B", None)
    if not isinstance(a, nn.Parameter) or not isinstance(b, nn.Parameter):
        return "the layer needs two nn.Parameter attributes, self.A (r x in_features) and self.B (out_features x r)."
    if tuple(a.shape) != (RANK, IN) or tuple(b.shape) != (OUT, RANK):
        return (f"with in_features {IN}, out_features {OUT} and r {RANK}, A must be {(RANK, IN)} and B {(OUT, RANK)}; "
                f"got A {tuple(a.shape)} and B {tuple(b.shape)}.")
    if b.detach().abs().max() != 0:
        return "B is not zero at the start, so training does not start from the base model."
    if a.detach().abs().max() == 0:
        return "A is zero too: then B's gradient (which goes through A) is zero and the adapter never trains."
    if not torch.equal(base.weight.detach(), weight):
        return "the base layer's weight changed: keep the nn.Linear you are given as it is."
    if base.weight.requires_grad or (base.bias is not None and base.bias.requires_grad):
        return "the base layer still requires gradients: freeze it (base.requires_grad_(False)); LoRA trains only A and B."
    trainable = {id(p) for p in layer.parameters() if p.requires_grad}
    if trainable != {id(a), id(b)}:
        return "only A and B should be trainable parameters of the layer (and both should be)."
    x = torch.randn(3, 5, IN)
    with torch.no_grad():
        got = learner_call(layer, x)
        if differs(got, base(x)) is not None:
            return "at the start (B = 0) the output must equal the base layer's output, base(x)."
        b.copy_(torch.randn(OUT, RANK))
        got = learner_call(layer, x)
        update = x @ a.T @ b.T
        expected = base(x) + ALPHA / RANK * update
        if differs(got, expected) is None:
            return None
        if differs(got, base(x) + update) is None:
            return "the scaling alpha/r is missing: the update B A x must be multiplied by alpha / r."
        if differs(got, base(x) + ALPHA * update) is None:
            return "the update is scaled by alpha; it should be alpha / r."
        if differs(got, base(x) + RANK / ALPHA * update) is None:
            return "the scaling is upside down: it is alpha / r, not r / alpha."
        if differs(got, ALPHA / RANK * update) is None:
            return "the output lost the base layer: it is base(x) plus the scaled update."
        return f"with B set to random values: {differs(got, expected)}"


q5 = Exercise(
    "q5",
    f"Write LoRALinear(base, r, alpha), an nn.Module wrapping a frozen nn.Linear: self.A (r x in_features, small "
    f"random values), self.B (out_features x r, zeros), self.scaling = alpha / r, and forward(x) = base(x) + "
    f"scaling * x A^T B^T. The check builds it on a {IN} -> {OUT} linear layer with r = {RANK}, alpha = {ALPHA:g}.",
    _q5_check,
    "nn.Parameter(torch.randn(r, base.in_features) / r) and nn.Parameter(torch.zeros(base.out_features, r)); "
    "base.requires_grad_(False); in forward, self.base(x) + self.scaling * (x @ self.A.T @ self.B.T).",
    _lora_reference,
    objective=OBJ_LORA,
    kind="code",
)
