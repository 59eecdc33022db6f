"""Exercises for week 6b, "Where the memory goes" (the VRAM planner and the claims audit)."""

from __future__ import annotations

from typing import Any

from course.exercises import Exercise, near

NOTEBOOK = "06b-where-the-memory-goes"

GIB = 2**30
L3_LAYERS, L3_HIDDEN, L3_INTER, L3_HEADS, L3_KV_HEADS, L3_HEAD_DIM = 32, 4096, 14336, 32, 8, 128


def _q1_solve() -> float:
    tokens, bytes_per_value = 8192, 2  # bf16
    return 2 * L3_LAYERS * tokens * L3_KV_HEADS * L3_HEAD_DIM * bytes_per_value / GIB  # K and V, every layer


def _q1_check(answer: Any) -> str | None:
    problem = near(_q1_solve(), rel=0.03, unit="GiB")(answer)
    if problem and isinstance(answer, int | float):
        if abs(answer - 4 * _q1_solve()) < 0.1:
            return problem + " You used all 32 query heads; Llama-3 caches only its 8 key/value heads (GQA)."
        if abs(answer - _q1_solve() / 2) < 0.05:
            return problem + " The cache holds keys AND values: multiply by 2."
    return problem


q1 = Exercise(
    "q1",
    "Llama-3-8B has 32 layers, 8 key/value heads of dimension 128. How many GiB does its bf16 KV cache "
    "take after 8192 tokens, batch 1?",
    _q1_check,
    "Per token and layer the cache stores one key and one value vector per KV head: 2 x 8 x 128 numbers of 2 bytes.",
    _q1_solve,
)


def _lora_params(rank: int, both_sides: bool = True, gqa: bool = True) -> float:
    q, kv = L3_HEADS * L3_HEAD_DIM, (L3_KV_HEADS if gqa else L3_HEADS) * L3_HEAD_DIM
    shapes = [(L3_HIDDEN, q), (L3_HIDDEN, kv), (L3_HIDDEN, kv), (q, L3_HIDDEN),
              (L3_HIDDEN, L3_INTER), (L3_HIDDEN, L3_INTER), (L3_INTER, L3_HIDDEN)]
    per_layer = sum(rank * (i + o) if both_sides else rank * i for i, o in shapes)
    return L3_LAYERS * per_layer / 1e6


def _q2_solve() -> float:
    return _lora_params(16)  # A is rank x in, B is out x rank, on all 7 linear layers of 32 blocks


def _q2_check(answer: Any) -> str | None:
    problem = near(_q2_solve(), rel=0.02, unit="million")(answer)
    if problem and isinstance(answer, int | float):
        if abs(answer - _lora_params(16, both_sides=False)) < 0.5:
            return problem + " LoRA adds two matrices per layer: A (rank x in) and B (out x rank)."
        if abs(answer - _lora_params(16, gqa=False)) < 0.5:
            return problem + " k_proj and v_proj output only 8 heads x 128 = 1024 features in Llama-3 (GQA)."
        if answer > 1000:
            return problem + " Give the answer in millions of parameters."
    return problem


q2 = Exercise(
    "q2",
    "QLoRA with rank 16 on all 7 linear layers (q, k, v, o, gate, up, down) of Llama-3-8B's 32 blocks: "
    "how many trainable parameters, in millions? (hidden 4096, MLP 14336, k/v output 1024)",
    _q2_check,
    "A linear layer with in -> out features gets rank x (in + out) LoRA parameters.",
    _q2_solve,
)


def _q3_solve() -> float:
    return 68.98e9 * 0.5 / GIB  # Llama-2-70B at 4 bits: half a byte per parameter, before any overhead


def _q3_check(answer: Any) -> str | None:
    problem = near(_q3_solve(), rel=0.04, unit="GiB")(answer)
    if problem and isinstance(answer, int | float):
        if abs(answer - 68.98e9 * 0.5 / 1e9) < 0.3:
            return problem + " That is GB (10^9 bytes); divide the bytes by 2**30 for GiB."
        if abs(answer - 68.98e9 / GIB) < 1:
            return problem + " 4 bits is half a byte, not one byte."
        if answer < 13:
            return problem + " No arithmetic puts 69 billion half-byte weights into 12 GB: recount."
    return problem


q3 = Exercise(
    "q3",
    "Llama-2-70B has 68.98 billion parameters. At 4 bits each, how many GiB do its weights alone take? "
    "(The source note said a 12 GB card might manage it.)",
    _q3_check,
    "4 bits = 0.5 byte per parameter; 1 GiB = 2**30 bytes.",
    _q3_solve,
)


def _q4_solve() -> str:
    return "checkpointing"


def _q4_check(answer: Any) -> str | None:
    choices = ("checkpointing", "rank", "optimizer")
    if not isinstance(answer, str) or answer.strip().lower() not in choices:
        return f"answer one of {', '.join(repr(c) for c in choices)}."
    if answer.strip().lower() == "rank":
        return "the LoRA rank changes the adapters (tens of MB); compare the activations row with and without it."
    if answer.strip().lower() == "optimizer":
        return "QLoRA's optimizer only holds state for the adapters: a few hundred MB at most."
    return None


q4 = Exercise(
    "q4",
    "For QLoRA on an 8B model at 2048 tokens, which knob cuts memory the most: 'checkpointing' (on vs off), "
    "'rank' (16 vs 8) or 'optimizer' (AdamW vs 8-bit AdamW)?",
    _q4_check,
    "Run memory.estimate three times, changing one knob each time, and compare the totals.",
    _q4_solve,
)

TYPICAL_WRONG = {
    "q1": [4 * _q1_solve(), _q1_solve() / 2, "1 GiB"],
    "q2": [_lora_params(16, both_sides=False), _lora_params(16, gqa=False), _q2_solve() * 1e6],
    "q3": [68.98e9 * 0.5 / 1e9, 68.98e9 / GIB, 11.0],
    "q4": ["rank", "optimizer", 3],
}
