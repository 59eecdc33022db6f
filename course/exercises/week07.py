"""Exercises for week 7, "LoRA and QLoRA": prompt masking, adapter size, optimizer state, merging."""

from __future__ import annotations

import math
from typing import Any

from course.exercises import Exercise, choice, near

NOTEBOOK = "07a-lora-and-qlora"

GIB = 2**30

# q1: one tokenized example: the first PROMPT_LEN tokens are the chat-formatted question.
IDS = [1, 50, 51, 52, 9, 70, 71, 2]
PROMPT_LEN = 5


def _q1_solve() -> list[int]:
    return [-100] * PROMPT_LEN + IDS[PROMPT_LEN:]  # the loss skips -100: only the answer is learned


def _q1_check(answer: Any) -> str | None:
    if not isinstance(answer, list | tuple) or not all(isinstance(x, int) for x in answer):
        return "give a list of integers, one label per token."
    answer = list(answer)
    if len(answer) != len(IDS):
        return f"there must be one label per input token ({len(IDS)}), got {len(answer)}."
    if answer == _q1_solve():
        return None
    if answer == IDS:
        return "with labels equal to the inputs, the model also learns to write the questions: mask the prompt."
    if answer == IDS[:PROMPT_LEN] + [-100] * (len(IDS) - PROMPT_LEN):
        return "that masks the answer and keeps the prompt: the other way round."
    if answer == [0] * PROMPT_LEN + IDS[PROMPT_LEN:]:
        return "0 is a real token id; the cross-entropy skips only -100."
    if answer == [-100] * (PROMPT_LEN - 1) + IDS[PROMPT_LEN:] + [-100]:
        return "don't shift the labels yourself: transformers shifts them by one inside the model."
    return "mask each prompt token with -100 and keep the answer's ids as they are."


q1 = Exercise(
    "q1",
    f"input_ids = {IDS}; the first {PROMPT_LEN} tokens are the prompt. What list of labels trains only the answer?",
    _q1_check,
    "Same length as input_ids; -100 where the loss should ignore a token; transformers shifts labels itself.",
    _q1_solve,
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
)

q4 = Exercise(
    "q4",
    "Why merge a QLoRA adapter into a 16-bit copy of the base rather than into its 4-bit weights? "
    "(a) 4-bit rounding would erase most of the small update; (b) peft cannot load a 4-bit base; "
    "(c) merging into 16-bit makes the model smaller",
    choice("a", {"b": "peft loads adapters on 4-bit bases: this notebook trained one that way.",
                 "c": "a 16-bit model is about four times larger than a 4-bit one."}),
    "Each 4-bit weight can take only 16 values per block; the LoRA update is small compared with those steps.",
    lambda: "a",
)
