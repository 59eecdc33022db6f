"""Exercises for week 6b, "Where the memory goes": count parameters, bytes per parameter, the planner, the audit."""

from __future__ import annotations

from typing import Any

from course.exercises import (
    Case,
    Exercise,
    LearnerError,
    NotAnswered,
    choice,
    differs,
    learner_call,
    near,
    same_as,
)
from course.syllabus import objective
from helpers.presets import GIB

NOTEBOOK = "06b-where-the-memory-goes"

L3_LAYERS, L3_HIDDEN, L3_HEADS, L3_KV_HEADS, L3_HEAD_DIM = 32, 4096, 32, 8, 128


OBJ_COUNT = objective(NOTEBOOK, "Count a model's")
OBJ_SPLIT = objective(NOTEBOOK, "Split GPU memory")
OBJ_PLAN = objective(NOTEBOOK, "Answer 'does it")
OBJ_AUDIT = objective(NOTEBOOK, "Audit the source")


def llama_block_params(hidden: int, intermediate: int, heads: int, kv_heads: int, head_dim: int) -> int:
    """Parameters of one Llama decoder block: attention (q, k, v, o), SwiGLU MLP (gate, up, down), two RMSNorms."""
    q, kv = heads * head_dim, kv_heads * head_dim
    attention = hidden * q + 2 * hidden * kv + q * hidden  # no biases in Llama's linear layers
    mlp = 3 * hidden * intermediate  # gate and up: hidden -> intermediate; down: intermediate -> hidden
    norms = 2 * hidden  # one weight vector per RMSNorm (no bias)
    return attention + mlp + norms


def _block_no_gqa(hidden, intermediate, heads, kv_heads, head_dim):  # noqa: ANN001, ANN202
    return llama_block_params(hidden, intermediate, heads, heads, head_dim)


def _block_two_matrix_mlp(hidden, intermediate, heads, kv_heads, head_dim):  # noqa: ANN001, ANN202
    return llama_block_params(hidden, intermediate, heads, kv_heads, head_dim) - hidden * intermediate


def _block_no_norms(hidden, intermediate, heads, kv_heads, head_dim):  # noqa: ANN001, ANN202
    return llama_block_params(hidden, intermediate, heads, kv_heads, head_dim) - 2 * hidden


def _block_with_biases(hidden, intermediate, heads, kv_heads, head_dim):  # noqa: ANN001, ANN202
    q, kv = heads * head_dim, kv_heads * head_dim
    return llama_block_params(hidden, intermediate, heads, kv_heads, head_dim) + q + 2 * kv + hidden + 2 * intermediate + hidden


def _block_square_q_o(hidden, intermediate, heads, kv_heads, head_dim):  # noqa: ANN001, ANN202
    kv = kv_heads * head_dim
    return 2 * hidden * hidden + 2 * hidden * kv + 3 * hidden * intermediate + 2 * hidden


def _block_head_dim_from_hidden(hidden, intermediate, heads, kv_heads, head_dim):  # noqa: ANN001, ANN202
    return llama_block_params(hidden, intermediate, heads, kv_heads, hidden // heads)


def _block_one_norm(hidden, intermediate, heads, kv_heads, head_dim):  # noqa: ANN001, ANN202
    return llama_block_params(hidden, intermediate, heads, kv_heads, head_dim) - hidden


def _block_no_v(hidden, intermediate, heads, kv_heads, head_dim):  # noqa: ANN001, ANN202
    return llama_block_params(hidden, intermediate, heads, kv_heads, head_dim) - hidden * kv_heads * head_dim


def _block_group_size(hidden, intermediate, heads, kv_heads, head_dim):  # noqa: ANN001, ANN202
    return llama_block_params(hidden, intermediate, heads, heads // kv_heads, head_dim)


def _block_by_shapes(hidden, intermediate, heads, kv_heads, head_dim):  # noqa: ANN001, ANN202
    shapes = {"q_proj": (hidden, heads * head_dim), "k_proj": (hidden, kv_heads * head_dim),
              "v_proj": (hidden, kv_heads * head_dim), "o_proj": (heads * head_dim, hidden),
              "gate_proj": (hidden, intermediate), "up_proj": (hidden, intermediate), "down_proj": (intermediate, hidden)}
    return sum(n_in * n_out for n_in, n_out in shapes.values()) + 2 * hidden  # + input and post-attention RMSNorm


def _block_with_torch(hidden, intermediate, heads, kv_heads, head_dim):  # noqa: ANN001, ANN202
    import torch
    from torch import nn

    with torch.device("meta"):  # shapes only, no memory
        block = nn.ModuleList([nn.Linear(hidden, heads * head_dim, bias=False),
                               nn.Linear(hidden, kv_heads * head_dim, bias=False),
                               nn.Linear(hidden, kv_heads * head_dim, bias=False),
                               nn.Linear(heads * head_dim, hidden, bias=False),
                               nn.Linear(hidden, intermediate, bias=False), nn.Linear(hidden, intermediate, bias=False),
                               nn.Linear(intermediate, hidden, bias=False)])
    return sum(p.numel() for p in block.parameters()) + 2 * hidden


def _block_cases() -> list[Case]:
    # MLP 176 on the first case: with 192, hidden x intermediate equalled what head_dim = hidden // heads loses, and
    # that mistake was told its MLP had two matrices
    return [Case("a block whose heads x head_dim (4 x 32 = 128) is not hidden (64), MLP 176, 2 KV heads",
                 (64, 176, 4, 2, 32)),
            Case("a small block (hidden 64, MLP 192, 4 heads, 2 KV heads of 16)", (64, 192, 4, 2, 16)),
            Case("a block without GQA (hidden 128, MLP 256, 4 heads, 4 KV heads of 32)", (128, 256, 4, 4, 32)),
            Case("a Gemma-7B-like block: 16 heads of 256 (4096) on a hidden size of 3072, MLP 24576, no GQA",
                 (3072, 24576, 16, 16, 256)),
            Case("Llama-3-8B's block (hidden 4096, MLP 14336, 32 heads, 8 KV heads of 128)", (4096, 14336, 32, 8, 128))]


q1 = Exercise(
    "q1",
    "Write llama_block_params(hidden, intermediate, heads, kv_heads, head_dim): the parameter count of ONE Llama "
    "decoder block (no biases), from the config fields. The checker tries it on blocks you have not seen.",
    same_as(llama_block_params, _block_cases, mistakes=[
        (_block_square_q_o, "q_proj outputs heads x head_dim features and o_proj takes them back to hidden: they are "
                            "hidden x hidden only when heads x head_dim equals hidden, which head_dim does not promise."),
        (_block_no_gqa, "k_proj and v_proj output kv_heads x head_dim features, not heads x head_dim (GQA)."),
        (_block_two_matrix_mlp, "Llama's SwiGLU MLP has three matrices (gate, up, down), not two."),
        (_block_no_norms, "each block also has two RMSNorm weight vectors of size hidden."),
        (_block_with_biases, "Llama's linear layers have no biases (attention_bias and mlp_bias are false)."),
        (_block_head_dim_from_hidden, "you used hidden // heads as the head size: use the head_dim argument, which "
                                      "need not equal it (Gemma: 16 heads of 256 on a hidden size of 3072)."),
        (_block_one_norm, "a block has two RMSNorms (one before attention, one before the MLP), each a vector of "
                          "size hidden."),
        (_block_no_v, "count both k_proj and v_proj: each maps hidden to kv_heads x head_dim."),
        (_block_group_size, "heads // kv_heads is how many query heads share a KV head; k_proj and v_proj output "
                            "kv_heads x head_dim features."),
    ], expects="your llama_block_params function", alternatives=[_block_by_shapes, _block_with_torch]),
    "Seven weight matrices: q (hidden x heads*head_dim), k and v (hidden x kv_heads*head_dim), o (heads*head_dim x "
    "hidden), gate, up (hidden x intermediate), down; plus two norm vectors. 05b-build-a-gpt wrote q, k, v, o, the "
    "KV heads and SwiGLU's gate, up, down by hand; planner.load_arch(...).params_by_kind() checks the total.",
    lambda: llama_block_params,
    objective=OBJ_COUNT,
)


def _lora_params(rank: int, both_sides: bool = True, gqa: bool = True, layers: int = L3_LAYERS) -> float:
    q, kv = L3_HEADS * L3_HEAD_DIM, (L3_KV_HEADS if gqa else L3_HEADS) * L3_HEAD_DIM
    shapes = [(L3_HIDDEN, q), (L3_HIDDEN, kv)]  # q_proj and v_proj only
    per_layer = sum(rank * (i + o) if both_sides else rank * i for i, o in shapes)
    return layers * per_layer / 1e6


def _q2_solve() -> float:
    return _lora_params(8)  # A is rank x in, B is out x rank, on q_proj and v_proj of 32 blocks


q2 = Exercise(
    "q2",
    "LoRA with rank 8 on q_proj and v_proj only (the original LoRA paper's choice) of Llama-3-8B's 32 blocks: "
    "how many trainable parameters, in millions? (hidden 4096; q_proj outputs 4096, v_proj 8 KV heads x 128 = 1024)",
    near(_q2_solve(), rel=0.02, unit="million", mistakes={
        _lora_params(8, both_sides=False): "LoRA adds two matrices per layer: A (rank x in) and B (out x rank).",
        L3_LAYERS * 8 * (L3_HEADS + L3_KV_HEADS) * L3_HEAD_DIM / 1e6: "that counts only B (out x rank) of each "
                                                                       "layer: add A (rank x in).",
        _lora_params(8, gqa=False): "v_proj outputs only 8 heads x 128 = 1024 features in Llama-3 (GQA).",
        _lora_params(8, layers=1): "that is one block; there are 32.",
        _q2_solve() * 1e6: "give the answer in millions of parameters.",
        _q2_solve() * 1e3: "give the answer in millions of parameters, not thousands.",
        _q2_solve() * 1e6 / 2**20: "a million is 10^6, not 2**20 (that is for bytes, MiB).",
        L3_LAYERS * 8 * (L3_HIDDEN * L3_HEADS * L3_HEAD_DIM + L3_HIDDEN * L3_KV_HEADS * L3_HEAD_DIM) / 1e6:
            "rank x in x out is no thin matrix: A is rank x in and B out x rank, so rank x (in + out) a layer.",
        _q2_solve() * 2: "that is twice the answer: rank 8, on q_proj and v_proj only (not k_proj and o_proj "
                         "too), counted in parameters, not bytes.",
        _q2_solve() + L3_LAYERS * 8 * (L3_HIDDEN + L3_KV_HEADS * L3_HEAD_DIM) / 1e6:
            "the adapters go on q_proj and v_proj only; k_proj is left alone.",
    }),
    "A linear layer with in -> out features gets rank x (in + out) LoRA parameters. q_proj and v_proj are the "
    "query and value projections 05b-build-a-gpt wrote; v_proj has only the KV heads' outputs.",
    _q2_solve,
    objective=OBJ_PLAN,
)

L31_70B_PARAMS = 70_553_706_496  # Llama-3.1-70B, counted from its config.json (python -m course plan list)


def _q3_solve() -> float:
    return L31_70B_PARAMS * 0.5 / GIB  # half a byte per parameter, before scales, 16-bit embeddings or overhead


q3 = Exercise(
    "q3",
    "Llama-3.1-70B has 70.55 billion parameters. At exactly 4 bits each (ignore the quantisation scales), how "
    "many GiB do its weights alone take? (The source note said a 12 GB card might run a 70B model at 4 bits.)",
    near(_q3_solve(), rel=0.02, unit="GiB", mistakes={
        L31_70B_PARAMS * 0.5 / 1e9: "that is GB (10^9 bytes); divide the bytes by 2**30 for GiB.",
        L31_70B_PARAMS / GIB: "4 bits is half a byte, not one byte.",
        L31_70B_PARAMS * 4 / GIB: "4 bits, not 4 bytes: half a byte each.",
        L31_70B_PARAMS * 2 / GIB: "that is bf16 (2 bytes a parameter); at 4 bits each takes half a byte.",
        L31_70B_PARAMS * 0.5 / 2**20: "that is in MiB; divide by 1024 once more (2**30 bytes a GiB).",
        L31_70B_PARAMS * 0.5: "that is in bytes; divide by 2**30 for GiB."}),
    "4 bits = 0.5 byte per parameter; 1 GiB = 2**30 bytes.",
    _q3_solve,
    objective=OBJ_AUDIT,
)

q4 = Exercise(
    "q4",
    "For QLoRA on an 8B model at 2048 tokens, which knob cuts memory the most: 'checkpointing' (on vs off), "
    "'rank' (16 vs 8) or 'optimizer' (AdamW vs 8-bit AdamW)?",
    choice("checkpointing", {
        "rank": "the LoRA rank changes the adapters (tens of MB); compare the activations row with and without it.",
        "optimizer": "QLoRA's optimizer only holds state for the adapters: a few hundred MB at most."},
        also=("gradient checkpointing", "activation checkpointing")),
    "Run planner.estimate three times, changing one knob each time, and compare the totals.",
    lambda: "checkpointing",
    objective=OBJ_PLAN,
    wrong=(("8-bit AdamW", "not one of the options"),),
    right=("Gradient checkpointing", "gradient_checkpointing", " 'checkpointing' "),
)


def training_bytes_per_param(precision: str, optimizer: str) -> int:
    """Bytes a trainable parameter costs in weights + gradient + optimizer state, for a full fine-tune.

    precision: "fp32" (everything fp32), "pure_bf16" (everything bf16) or "mixed" (fp32 master weights,
    gradients and optimizer states; the 16-bit copies autocast makes are temporary and not counted).
    optimizer: "adamw" (two states a parameter: m and v) or "sgd" (momentum: one state).
    """
    size = 2 if precision == "pure_bf16" else 4  # mixed keeps everything that persists in fp32
    states = 2 if optimizer == "adamw" else 1
    return size * (1 + 1 + states)  # weight + gradient + states


def _bytes_no_grad(precision, optimizer):  # noqa: ANN001, ANN202
    return training_bytes_per_param(precision, optimizer) - (2 if precision == "pure_bf16" else 4)


def _bytes_mixed_as_half(precision, optimizer):  # noqa: ANN001, ANN202
    return training_bytes_per_param("pure_bf16" if precision == "mixed" else precision, optimizer)


def _bytes_mixed_16bit_states(precision, optimizer):  # noqa: ANN001, ANN202
    if precision != "mixed":
        return training_bytes_per_param(precision, optimizer)
    return 4 + 4 + 2 * (2 if optimizer == "adamw" else 1)


def _bytes_one_adam_state(precision, optimizer):  # noqa: ANN001, ANN202
    size = 2 if precision == "pure_bf16" else 4
    return size * 3


def _bytes_sgd_no_momentum(precision, optimizer):  # noqa: ANN001, ANN202
    size = 2 if precision == "pure_bf16" else 4
    return size * (2 + (2 if optimizer == "adamw" else 0))


def _bytes_mixed_counts_the_copy(precision, optimizer):  # noqa: ANN001, ANN202
    return training_bytes_per_param(precision, optimizer) + (2 if precision == "mixed" else 0)


def _bytes_mixed_bf16_grads(precision, optimizer):  # noqa: ANN001, ANN202
    return training_bytes_per_param(precision, optimizer) - (2 if precision == "mixed" else 0)


def _bytes_bf16_fp32_states(precision, optimizer):  # noqa: ANN001, ANN202
    if precision != "pure_bf16":
        return training_bytes_per_param(precision, optimizer)
    return 2 + 2 + 4 * (2 if optimizer == "adamw" else 1)


def _bytes_cases() -> list[Case]:
    return [Case(f"precision={p!r}, optimizer={o!r}", (p, o))
            for p, o in (("fp32", "sgd"), ("pure_bf16", "adamw"), ("mixed", "adamw"), ("mixed", "sgd"),
                         ("fp32", "adamw"), ("pure_bf16", "sgd"))]


def _bytes_from_a_table(precision, optimizer):  # noqa: ANN001, ANN202
    import torch

    dtype = {"fp32": torch.float32, "pure_bf16": torch.bfloat16, "mixed": torch.float32}[precision]  # what persists
    tensors = {"adamw": ("weight", "grad", "exp_avg", "exp_avg_sq"), "sgd": ("weight", "grad", "momentum_buffer")}
    return len(tensors[optimizer]) * dtype.itemsize


BYTES_MISTAKES = [
    (_bytes_mixed_16bit_states, "in the mixed recipe AdamW's states are fp32 too (torch keeps them in the "
                                "parameter's dtype)."),
    (_bytes_mixed_as_half, "mixed precision keeps fp32 master weights, gradients and states: it saves time and "
                           "activation memory, not weight memory."),
    (_bytes_one_adam_state, "AdamW keeps two states a parameter (m and v); SGD with momentum keeps one."),
    (_bytes_no_grad, "every trainable parameter also has a gradient, the same size as the weight."),
    (_bytes_sgd_no_momentum, "SGD with momentum keeps one state a parameter (the momentum buffer), the size of "
                             "the weight."),
    (_bytes_mixed_counts_the_copy, "you counted the 16-bit copy of the weights that autocast makes: it lives only "
                                   "through one forward and backward pass, so leave it out here."),
    (_bytes_mixed_bf16_grads, "under autocast the gradients land in the fp32 parameters' .grad, so they are fp32 "
                              "(4 bytes), not bf16."),
    (_bytes_bf16_fp32_states, "in pure bf16 AdamW's states are bf16 too: torch keeps them in the parameter's dtype."),
]
_bytes_same = same_as(training_bytes_per_param, _bytes_cases, mistakes=BYTES_MISTAKES,
                      expects="your training_bytes_per_param function", alternatives=[_bytes_from_a_table])


def _bytes_check(answer: Any) -> str | None:
    """same_as names a mistake by the first case that fails, where two mistakes can give the same number (no
    gradient and no momentum both give 8 bytes for fp32 SGD): name the one that matches all six cases."""
    problem = _bytes_same(answer)
    if problem is None or not callable(answer):
        return problem
    try:
        table = [learner_call(answer, *case.args) for case in _bytes_cases()]
    except (LearnerError, NotAnswered):
        return problem
    for wrong, why in BYTES_MISTAKES:
        if all(differs(got, wrong(*case.args)) is None for got, case in zip(table, _bytes_cases(), strict=True)):
            return f"on every precision and optimizer your numbers match this mistake: {why}"
    return problem


_bytes_check.kind, _bytes_check.mistakes = "code", _bytes_same.mistakes  # type: ignore[attr-defined]
_bytes_check.alternatives = _bytes_same.alternatives  # type: ignore[attr-defined]

q5 = Exercise(
    "q5",
    "Write training_bytes_per_param(precision, optimizer): the bytes one trainable parameter costs in weights, "
    "gradient and optimizer state for precision 'fp32', 'pure_bf16' or 'mixed' (fp32 master weights under bf16 "
    "autocast) and optimizer 'adamw' or 'sgd' (with momentum). Count what persists from one step to the next: the "
    "16-bit copies of the weights that autocast makes live only through one forward and backward pass, so the "
    "planner counts them with the activations, not here. Then work out from it what a 1B-parameter full fine-tune "
    "needs before any activation, in each recipe.",
    _bytes_check,
    "Count weight + gradient + one state for SGD (momentum) or two for AdamW, each 4 bytes in fp32 and in the "
    "mixed recipe, 2 bytes in pure bf16.",
    lambda: training_bytes_per_param,
    objective=OBJ_SPLIT,
)
