"""Exercises for week 6, "Running an LLM on 12 GB": weights at each precision, KV cache, speed."""

from __future__ import annotations

import math
from typing import Any

from course.exercises import Exercise, choice, near

NOTEBOOK = "06a-running-an-llm-on-12gb"

GIB = 2**30

# Llama-3.1-8B's published architecture (config.json on the Hugging Face Hub).
LAYERS, KV_HEADS, HEAD_DIM = 32, 8, 128


def _q1_solve() -> float:
    tokens = 8192
    return 2 * LAYERS * tokens * KV_HEADS * HEAD_DIM * 2 / GIB  # K and V, per layer, per token, bf16


def _q1_check(answer: Any) -> str | None:
    problem = near(_q1_solve(), rel=0.03, unit="GiB")(answer)
    if problem and isinstance(answer, int | float) and not isinstance(answer, bool):
        if math.isclose(answer, _q1_solve() / 2, rel_tol=0.03):
            return problem + " Count both the keys and the values (the factor 2 in front)."
        if math.isclose(answer, _q1_solve() * 4, rel_tol=0.03):
            return problem + " Llama-3 uses grouped-query attention: 8 KV heads, not 32."
        if math.isclose(answer, _q1_solve() * GIB / 1e9, rel_tol=0.03):
            return problem + " That is in GB; divide bytes by 2**30 for GiB."
    return problem


q1 = Exercise(
    "q1",
    f"Llama-3.1-8B has {LAYERS} layers, {KV_HEADS} KV heads of dimension {HEAD_DIM}. How many GiB does its "
    "bf16 KV cache take for one sequence of 8192 tokens?",
    _q1_check,
    "2 (K and V) x layers x tokens x KV heads x head_dim x 2 bytes; compare with helpers.memory.kv_cache_bytes.",
    _q1_solve,
)


def _q2_solve() -> float:
    bandwidth_gb_s, weights_gb = 504.0, 4.9  # RTX 4070 Ti memory bandwidth; Llama-3-8B Q4_K_M file size
    return bandwidth_gb_s / weights_gb  # each new token reads every weight once


q2 = Exercise(
    "q2",
    "Generating one token reads every weight once. An RTX 4070 Ti moves 504 GB/s; Llama-3-8B in Q4_K_M is "
    "4.9 GB. What is the upper bound on tokens per second?",
    near(_q2_solve(), rel=0.03, unit="tokens/s"),
    "Divide bandwidth (GB/s) by the bytes read per token (GB). llama.cpp reaches about 80 % of it.",
    _q2_solve,
)

q3 = Exercise(
    "q3",
    "Which fits a 12 GB card with room for a 4k-token context: (a) Llama-3.1-8B in bf16, (b) Llama-3.1-8B "
    "in 4-bit NF4, (c) Llama-3-70B in 4-bit?",
    choice("b", {"a": "8B parameters x 2 bytes is about 15 GiB of weights: more than the card has.",
                 "c": "70B x 0.5 bytes is about 33 GiB: no 12 GB card holds it."}),
    "Weights alone: parameters x bytes per parameter (2 for bf16, about 0.5 for 4-bit).",
    lambda: "b",
)

q4 = Exercise(
    "q4",
    "You call tok.apply_chat_template(messages, tokenize=False) and then tok(text). What goes wrong? "
    "(a) nothing; (b) the beginning-of-text token appears twice; (c) the assistant turn is dropped",
    choice("b", {"a": "look at the first ids: the template writes <|begin_of_text|>, and tok() adds another.",
                 "c": "the template keeps every turn; the problem is at the very start."}),
    "The chat template already starts with the BOS token; tokenizing adds special tokens again unless "
    "add_special_tokens=False.",
    lambda: "b",
)
