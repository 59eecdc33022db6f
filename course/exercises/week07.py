"""Exercises for week 7, "LoRA and QLoRA": prompt masking and a LoRA layer in code, adapter size, optimizer state, merging."""

from __future__ import annotations

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

    # the shorter prompt first: the first row's length and the longest differ, so each mistake shows on this case
    ids = torch.tensor([[1, 60, 9, 80, 81, 82, 83, 2], [1, 50, 51, 52, 9, 70, 71, 2]])
    three = torch.randint(3, 500, (3, 12), generator=torch.Generator().manual_seed(7))
    return [Case("a batch of two rows with prompts of 3 and 5 tokens", (ids, [3, 5])),
            Case("a batch of three rows with prompts of 4, 9 and 6 tokens", (three, [4, 9, 6])),
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


def _float_labels(input_ids, prompt_lengths):
    return _mask_prompt(input_ids, prompt_lengths).float()


def _mask_in_place(input_ids, prompt_lengths):
    for i, n in enumerate(prompt_lengths):
        input_ids[i, :n] = -100
    return input_ids


def _mask_one_more(input_ids, prompt_lengths):
    labels = input_ids.clone()
    for i, n in enumerate(prompt_lengths):
        labels[i, : n + 1] = -100
    return labels


def _mask_one_less(input_ids, prompt_lengths):
    labels = input_ids.clone()
    for i, n in enumerate(prompt_lengths):
        labels[i, : max(n - 1, 0)] = -100
    return labels


def _longest_prompt_everywhere(input_ids, prompt_lengths):
    labels = input_ids.clone()
    labels[:, : max(prompt_lengths)] = -100
    return labels


def _mask_the_end(input_ids, prompt_lengths):
    labels = input_ids.clone()
    for i, n in enumerate(prompt_lengths):
        labels[i, labels.shape[1] - n:] = -100
    return labels


def _as_numpy(input_ids, prompt_lengths):
    return _mask_prompt(input_ids, prompt_lengths).numpy()


def _mask_vectorised(input_ids, prompt_lengths):
    import torch

    positions = torch.arange(input_ids.shape[1])
    prompt = positions[None, :] < torch.as_tensor(prompt_lengths)[:, None]  # True on each row's prompt tokens
    return input_ids.masked_fill(prompt, -100)


def _mask_with_where(input_ids, prompt_lengths):
    import torch

    rows = [torch.where(torch.arange(len(row)) < n, torch.full_like(row, -100), row)
            for row, n in zip(input_ids, prompt_lengths)]
    return torch.stack(rows)


_q1_check = same_as(_mask_prompt, _mask_cases, mistakes=[
    (_mask_answer, "you masked the answer instead of the prompt: the model would learn to write questions."),
    (_no_mask, "nothing is masked: with labels equal to the inputs the model also learns the prompts."),
    (_mask_with_zero, "0 is a real token id; PyTorch's cross-entropy skips only -100."),
    (_first_length_everywhere, "every row has its own prompt length: use prompt_lengths[i] for row i."),
    (_shifted_by_hand, "don't shift the labels yourself: transformers shifts them by one inside the model (05b "
                       "shifted them by hand because its loss was its own)."),
    (_float_labels, "the labels became floats: they are token ids, and cross_entropy refuses float targets of this "
                    "shape (keep input_ids' integer dtype)."),
    (_mask_one_more, "off by one: you also masked the first answer token. Row i's prompt is positions 0 to "
                     "prompt_lengths[i] - 1, so labels[i, :n] = -100."),
    (_mask_one_less, "off by one: the last prompt token is still trained. Mask positions 0 to prompt_lengths[i] - 1 "
                     "(labels[i, :n]); transformers does the shifting."),
    (_longest_prompt_everywhere, "you masked the longest prompt's length in every row, which hides the start of "
                                 "shorter rows' answers: use prompt_lengths[i] for row i."),
    (_mask_the_end, "you masked the last tokens of each row: the prompt comes first, so mask the first "
                    "prompt_lengths[i] positions."),
], expects="your mask_prompt function", alternatives=[_mask_vectorised, _mask_with_where])

q1 = Exercise(
    "q1",
    "Write mask_prompt(input_ids, prompt_lengths): input_ids is a (batch x length) tensor of token ids and "
    "prompt_lengths a list with the prompt length of each row. Return the labels that train only the answers.",
    _q1_check,
    "Start from input_ids.clone(); in row i set the first prompt_lengths[i] positions to -100. "
    "Do not shift anything: the model does that (05b-build-a-gpt shows the shifted next-token loss).",
    lambda: _mask_prompt,
    objective=OBJ_MASK,
    kind="code",
    wrong=((_mask_in_place, "changed its argument 1 in place"), (_as_numpy, "return a torch tensor")),
)

# q2: an adapter on a projection that is not square (section 6 showed the formula on a square one's terms).
D_IN, D_OUT, R = 4096, 1024, 16  # Mistral-7B's k_proj: 8 KV heads x 128 = 1024 outputs (grouped-query attention)


def _q2_solve() -> int:
    return R * (D_IN + D_OUT)  # A is r x d_in, B is d_out x r


q2 = Exercise(
    "q2",
    f"Mistral-7B's k_proj maps the {D_IN}-wide hidden state to its 8 KV heads of 128 ({D_OUT} features). A LoRA "
    f"adapter of rank r = {R} goes on it. How many trainable parameters does it add?",
    near(_q2_solve(), rel=0.0, unit="parameters", mistakes={
        D_IN * D_OUT: "that is the frozen matrix W itself; LoRA trains two thin matrices A and B.",
        R * D_IN: "that is only A (r x d_in): count B (d_out x r) too.",
        R * D_OUT: "that is only B (d_out x r): count A (r x d_in) too.",
        R * (D_IN + D_IN): "k_proj is not square: it outputs 8 KV heads x 128 = 1024 features, not 4096.",
        R * R: "A and B are r x d_in and d_out x r, not r x r.",
        R * D_IN * D_OUT: "r x d_in x d_out is no thin matrix: A (r x d_in) and B (d_out x r) hold r x (d_in + d_out).",
        2 * R * (D_IN + D_OUT): "that is twice the answer: one adapter of rank 16 on k_proj alone, counted in "
                                "parameters (not bytes, not K and V together).",
        R * (D_IN + 128): "k_proj outputs all 8 KV heads x 128 = 1024 features, not one head's 128.",
    }),
    "LoRA adds B @ A with A of shape (r, d_in) and B of shape (d_out, r). 05b-build-a-gpt built k_proj with fewer "
    "KV heads than query heads.",
    _q2_solve,
    objective=OBJ_LORA,
)

TRAINABLE = 40e6


def _q3_solve() -> float:
    return TRAINABLE * 2 * 4 / GIB  # AdamW: two fp32 states (mean and variance) per trainable parameter


q3 = Exercise(
    "q3",
    "An adapter has 40 million fp32 trainable parameters. How many GiB does torch.optim.AdamW's state take?",
    near(_q3_solve(), rel=0.03, unit="GiB", mistakes={
        _q3_solve() / 2: "That is half: AdamW keeps two states per parameter (the mean and the variance of the "
                         "gradients), each fp32 (4 bytes) like the parameter.",
        _q3_solve() * 1024: "That is in MiB; divide by 1024 once more (2**30 bytes a GiB).",
        TRAINABLE * 3 * 4 / GIB: "That adds the weights themselves; the question asks for the optimizer's state alone.",
        TRAINABLE * 2 * 4 / 1e9: "That is in GB (10^9 bytes); divide by 2**30 for GiB.",
        TRAINABLE * 2 * 1 / GIB: "That is the 8-bit optimizer; torch.optim.AdamW keeps fp32 states (4 bytes).",
        TRAINABLE * 4 * 4 / GIB: "That adds the weights and their gradients; the question asks for the optimizer's "
                                 "state alone.",
    }),
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


# q5 (code): a LoRA linear layer, checked on several shapes, ranks and alphas.
def _lora_variant(scaling=None, b_init=None, a_init=None, freeze=True, keep_base=True, style="matmul") -> type:  # noqa: ANN001
    """A LoRALinear class; the defaults make the reference, each argument one typical mistake or another style."""
    import torch
    from torch import nn

    class LoRALinear(nn.Module):
        """A frozen nn.Linear plus a LoRA update: base(x) + (alpha / r) * x A^T B^T, with B starting at zero."""

        def __init__(self, base: nn.Linear, r: int, alpha: float):
            super().__init__()
            self.base = base
            self.base.requires_grad_(not freeze)  # the base weight stays frozen
            a = torch.randn(r, base.in_features) / r if a_init is None else a_init(r, base.in_features)
            b = torch.zeros(base.out_features, r) if b_init is None else b_init(base.out_features, r)
            self.A = nn.Parameter(a)  # small random values
            self.B = nn.Parameter(b)  # zero: training starts from the base model
            self.scaling = alpha / r if scaling is None else scaling(alpha, r)

        def forward(self, x):
            if style == "einsum":
                update = torch.einsum("...i,ri,or->...o", x, self.A, self.B)
            elif style == "functional":
                update = nn.functional.linear(nn.functional.linear(x, self.A), self.B)
            else:
                update = x @ self.A.T @ self.B.T
            return (self.base(x) if keep_base else 0) + self.scaling * update

    return LoRALinear


def _dropout(x):  # noqa: ANN001, ANN201 - peft's lora_dropout, which the question's layer does not have
    import torch

    return torch.nn.functional.dropout(x, p=0.1, training=True)


def _random_b(out_features: int, r: int) -> Any:
    import torch

    return torch.randn(out_features, r)


def _zero_a(r: int, in_features: int) -> Any:
    import torch

    return torch.zeros(r, in_features)


def _a_for_12_inputs(r: int, in_features: int) -> Any:
    import torch

    return torch.randn(r, 12) / r  # the question's first layer has 12 inputs: a hard-coded shape


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
            self.scaling = alpha / r  # a float: alpha // r would round it down

        def forward(self, x):
            return self.base(x) + self.scaling * (x @ self.A.T @ self.B.T)

    return LoRALinear


# (in_features, out_features, r, alpha, bias, input shape): alpha / r is 2.5, 8/3, 1.5 and 0.25, never a whole
# number that alpha // r would give, and no case's scaling is another's (a hard-coded 2.5 fails the second);
# 2-D and 3-D inputs; a base with and without a bias.
_Q5_CONFIGS = ((12, 10, 4, 10.0, True, (3, 5, 12)), (7, 20, 3, 8, True, (4, 7)), (16, 16, 8, 12.0, False, (2, 3, 16)),
               (5, 9, 4, 1, True, (6, 5)))


def _q5_gradients(layer: Any, base: Any, x: Any, a: Any, b: Any, scaling: float, case: str) -> str | None:
    """None if training would move A and B as the reference's would: the update stays in the autograd graph."""
    import torch

    layer.zero_grad(set_to_none=True)
    out = learner_call(layer, x)
    if not getattr(out, "requires_grad", False):
        return (f"on {case}: the output is right, but no gradient reaches A and B (it does not require grad): keep "
                "the update in the graph (no .detach(), .data or torch.no_grad() in forward), or training never "
                "moves the adapter.")
    try:
        out.sum().backward()
    except RuntimeError as err:
        return f"on {case}: backpropagating through your layer failed ({err})."
    a_ref, b_ref = a.detach().clone().requires_grad_(True), b.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (base(x) + scaling * (x @ a_ref.T @ b_ref.T)).sum().backward()
    for name, got, want in (("A", a.grad, a_ref.grad), ("B", b.grad, b_ref.grad)):
        if got is None or differs(got, want) is not None:
            return (f"on {case}: the output is right, but the gradient of {name} is not what base(x) + scaling * x "
                    f"A^T B^T gives: keep {name} itself in the computation (no .detach(), .data or copies of it).")
    layer.zero_grad(set_to_none=True)
    return None


def _q5_check(answer: Any) -> str | None:
    import torch
    from torch import nn

    if not isinstance(answer, type) or not issubclass(answer, nn.Module):
        return "pass the class itself (LoRALinear, without calling it): an nn.Module subclass."
    for d_in, d_out, r, alpha, bias, x_shape in _Q5_CONFIGS:
        case = f"a {d_in} -> {d_out} linear layer{'' if bias else ' without bias'}, r = {r}, alpha = {alpha}"
        torch.manual_seed(0)
        base = nn.Linear(d_in, d_out, bias=bias)
        weight = base.weight.detach().clone()
        layer = learner_call(answer, base, r=r, alpha=alpha)
        a, b = getattr(layer, "A", None), getattr(layer, "B", None)
        if not isinstance(a, nn.Parameter) or not isinstance(b, nn.Parameter):
            return "the layer needs two nn.Parameter attributes, self.A (r x in_features) and self.B (out_features x r)."
        if tuple(a.shape) != (r, d_in) or tuple(b.shape) != (d_out, r):
            return (f"on {case}: A must be {(r, d_in)} and B {(d_out, r)}; got A {tuple(a.shape)} and B "
                    f"{tuple(b.shape)}. Read the sizes from base.in_features, base.out_features and r.")
        if b.detach().abs().max() != 0:
            return "B is not zero at the start, so training does not start from the base model."
        if a.detach().abs().max() == 0:
            return "A is zero too: then B's gradient (which goes through A) is zero and the adapter never trains."
        if not torch.equal(base.weight.detach(), weight):
            return "the base layer's weight changed: keep the nn.Linear you are given as it is."
        if all(p is not base.weight for p in layer.parameters()):
            return ("the layer must wrap the nn.Linear it is given (self.base = base), not a copy or a new layer: a "
                    "copy doubles the weights in memory, and the model around it still holds the original.")
        if base.weight.requires_grad or (base.bias is not None and base.bias.requires_grad):
            return "the base layer still requires gradients: freeze it (base.requires_grad_(False)); LoRA trains only A and B."
        trainable = {id(p) for p in layer.parameters() if p.requires_grad}
        if trainable != {id(a), id(b)}:
            return "only A and B should be trainable parameters of the layer (and both should be)."
        x = torch.randn(*x_shape, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            got = learner_call(layer, x)
            if differs(got, base(x)) is not None:
                if bias and differs(got, x @ base.weight.T) is None:
                    return (f"on {case}: the base layer's bias is missing: call self.base(x), which adds it, rather "
                            "than multiplying by its weight yourself.")
                if differs(got, alpha / r * base(x)) is None:
                    return (f"on {case}: you scaled the base layer's output too: only the update is multiplied by "
                            "alpha / r, base(x) + scaling * x A^T B^T.")
                return f"on {case}: at the start (B = 0) the output must equal the base layer's output, base(x)."
            b.copy_(torch.randn(d_out, r, generator=torch.Generator().manual_seed(2)))
            got = learner_call(layer, x)
            if differs(learner_call(layer, x), got) is not None:
                return (f"on {case}: your layer gives a different output each time it runs on the same input "
                        "(dropout, or fresh random numbers in forward?): the question's layer is deterministic.")
            update = x @ a.T @ b.T
            expected = base(x) + alpha / r * update
        if differs(got, expected) is None:
            problem = _q5_gradients(layer, base, x, a, b, alpha / r, case)
            if problem is not None:
                return problem
            continue
        with torch.no_grad():
            for wrong, why in ((update, "the scaling alpha/r is missing: the update B A x must be multiplied by alpha / r."),
                               (alpha * update, "the update is scaled by alpha; it should be alpha / r."),
                               (r / alpha * update, "the scaling is upside down: it is alpha / r, not r / alpha."),
                               ((alpha // r) * update, f"alpha // r rounds the scaling down to a whole number "
                                                       f"({alpha} // {r} = {alpha // r}): use alpha / r.")):
                if differs(got, base(x) + wrong) is None:
                    return f"on {case}: {why}"
            if differs(got, alpha / r * update) is None:
                return f"on {case}: the output lost the base layer: it is base(x) plus the scaled update."
            # an update scaled by some other number: say which, so a hard-coded scaling shows
            extra = (got - base(x)).double().flatten() if isinstance(got, torch.Tensor) else None
            if extra is not None and extra.shape == update.flatten().shape:
                u = update.double().flatten()
                s = float(extra @ u / (u @ u))
                if differs(got, base(x) + s * update) is None:
                    return (f"on {case}: your update is scaled by {s:.4g}, but alpha / r = {alpha} / {r} = "
                            f"{alpha / r:.4g}: compute self.scaling = alpha / r from the arguments, not a fixed number.")
        return f"on {case}, with B set to random values: {differs(got, expected)}"
    return None


def _detached_update(self, x):  # noqa: ANN001, ANN202 - a forward whose update no gradient reaches
    return self.base(x) + self.scaling * (x @ self.A.T @ self.B.T).detach()


def _merged_forward(self, x):  # noqa: ANN001, ANN202 - another style: fold the update into the weight on the fly
    import torch

    return torch.nn.functional.linear(x, self.base.weight + self.scaling * self.B @ self.A, self.base.bias)


def _with_forward(forward, **changes: Any) -> type:  # noqa: ANN001
    """The reference class (or a variant of it) with another forward."""
    return type("LoRALinear", (_lora_variant(**changes),), {"forward": forward})


def _copied_base() -> type:
    import copy

    reference = _lora_reference()

    class LoRALinear(reference):
        def __init__(self, base, r, alpha):  # noqa: ANN001
            super().__init__(copy.deepcopy(base), r, alpha)  # a copy: the caller's layer stays trainable

    return LoRALinear


q5 = Exercise(
    "q5",
    "Write LoRALinear(base, r, alpha), an nn.Module wrapping a frozen nn.Linear: self.A (r x in_features, small "
    "random values), self.B (out_features x r, zeros), self.scaling = alpha / r, and forward(x) = base(x) + "
    "scaling * x A^T B^T. The checker builds it on linear layers of several shapes, with and without a bias, and "
    "several ranks and alphas, and runs inputs of two and three dimensions.",
    _q5_check,
    "nn.Parameter(torch.randn(r, base.in_features) / r) and nn.Parameter(torch.zeros(base.out_features, r)); "
    "base.requires_grad_(False); in forward, self.base(x) + self.scaling * (x @ self.A.T @ self.B.T).",
    _lora_reference,
    objective=OBJ_LORA,
    kind="code",
    wrong=((_lora_variant(scaling=lambda alpha, r: 1.0), "the scaling alpha/r is missing"),
           (_lora_variant(scaling=lambda alpha, r: alpha), "scaled by alpha; it should be alpha / r"),
           (_lora_variant(scaling=lambda alpha, r: alpha // r), "alpha // r rounds the scaling down"),
           (_lora_variant(scaling=lambda alpha, r: r / alpha), "upside down"),
           (_lora_variant(b_init=_random_b), "B is not zero at the start"),
           (_lora_variant(a_init=_zero_a), "A is zero too"),
           (_lora_variant(freeze=False), "the base layer still requires gradients"),
           (_lora_variant(keep_base=False), "at the start (B = 0) the output must equal the base layer's output"),
           (_lora_variant(a_init=_a_for_12_inputs), "A must be"),
           (_lora_variant(scaling=lambda alpha, r: 2.5), "compute self.scaling = alpha / r from the arguments"),
           (_lora_variant(scaling=lambda alpha, r: alpha / r**0.5), "your update is scaled by"),
           (_with_forward(_detached_update), "no gradient reaches A and B"),
           (_with_forward(lambda self, x: x @ self.base.weight.T + self.scaling * (x @ self.A.T @ self.B.T)),
            "bias is missing"),
           (_with_forward(lambda self, x: self.scaling * (self.base(x) + x @ self.A.T @ self.B.T)),
            "you scaled the base layer's output too"),
           (_with_forward(lambda self, x: self.base(x) + self.scaling * (_dropout(x) @ self.A.T @ self.B.T)),
            "different output each time"),
           (_copied_base(), "not a copy")),
    right=(_lora_variant(style="einsum"), _lora_variant(style="functional"), _with_forward(_merged_forward)),
)
