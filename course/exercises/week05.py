"""Exercises for week 5, "Transformers for NLP": attention by hand, decoding by hand, attention cost,
sampling, reading a confusion matrix."""

from __future__ import annotations

from typing import Any

from course.exercises import Case, Exercise, choice, near, same_as
from course.syllabus import objective

NOTEBOOK = "05a-transformers-for-nlp"
TOKENS_OBJ = objective(NOTEBOOK, "Turn text into")
ATTENTION_OBJ = objective(NOTEBOOK, "Look at attention")
WRITE_ATTENTION_OBJ = objective(NOTEBOOK, "Write scaled dot-product")
EVAL_OBJ = objective(NOTEBOOK, "Evaluate with accuracy")
DECODING_OBJ = objective(NOTEBOOK, "Compare greedy, top-k,")

# q1: scores of a 12-head model at 512 tokens, stored in fp32.
HEADS, TOKENS = 12, 512


def _q1_solve() -> float:
    return HEADS * TOKENS * TOKENS * 4 / 2**20  # one score per (query, key) pair, per head, 4 bytes


def _q1_check(answer: Any) -> str | None:
    problem = near(_q1_solve(), rel=0.03, unit="MiB")(answer)
    if problem and isinstance(answer, int | float) and not isinstance(answer, bool):
        if abs(answer - _q1_solve() / HEADS) < 0.5:
            return problem + " Every head has its own score matrix."
        if abs(answer - HEADS * TOKENS * 4 / 2**20) < 0.05:
            return problem + " Each of the 512 queries scores each of the 512 keys: tokens squared."
    return problem


q1 = Exercise(
    "q1",
    f"One attention layer with {HEADS} heads reads {TOKENS} tokens. How many MiB do its fp32 attention scores take "
    "(one sequence)?",
    _q1_check,
    "Scores form a tokens x tokens matrix per head; fp32 is 4 bytes; 1 MiB = 2**20 bytes.",
    _q1_solve,
    objective=ATTENTION_OBJ,
)

# q2: a confusion matrix of a sentiment classifier, rows = true class, columns = predicted.
MATRIX = [[40, 10], [5, 45]]  # negative row, positive row


def _q2_solve() -> float:
    return (MATRIX[0][0] + MATRIX[1][1]) / sum(map(sum, MATRIX))


def _q2_check(answer: Any) -> str | None:
    problem = near(_q2_solve(), rel=0.01)(answer)
    if problem and isinstance(answer, int | float) and not isinstance(answer, bool):
        if abs(answer - 100 * _q2_solve()) < 1:
            return problem + " Give a fraction between 0 and 1, not a percentage."
        if abs(answer - (MATRIX[0][1] + MATRIX[1][0]) / 100) < 0.01:
            return problem + " That is the error rate: accuracy counts the diagonal."
    return problem


q2 = Exercise(
    "q2",
    f"A sentiment model's confusion matrix (rows: true negative, positive; columns: predicted) is {MATRIX}. "
    "What is its accuracy, as a fraction?",
    _q2_check,
    "Correct predictions sit on the diagonal; divide by all predictions.",
    _q2_solve,
    objective=EVAL_OBJ,
)

q3 = Exercise(
    "q3",
    "Which decoding gives the same text every time you run it: 'greedy', 'top-k', 'top-p' or 'temperature'?",
    choice("greedy", {"top-k": "top-k samples among the k likeliest tokens: it changes from run to run.",
                      "top-p": "top-p samples from the smallest set covering probability p: it is random.",
                      "temperature": "temperature reshapes the probabilities before sampling: still random."}),
    "Only one of them never samples: it always takes the likeliest next token.",
    lambda: "greedy",
    objective=DECODING_OBJ,
)

q4 = Exercise(
    "q4",
    "Raising the temperature from 0.7 to 1.5 makes the next-token distribution: 'flatter' or 'sharper'?",
    choice("flatter", {"sharper": "dividing logits by a bigger temperature shrinks their differences."}),
    "Sampling uses softmax(logits / T).",
    lambda: "flatter",
    objective=DECODING_OBJ,
)


# q5 (code): scaled dot-product attention with a causal mask, as one head of GPT-2 computes it.
def causal_attention(q: Any, k: Any, v: Any) -> Any:
    """Causal scaled dot-product attention: softmax(q k^T / sqrt(d), future masked) v, per batch and head."""
    import math

    import torch

    d, n = q.shape[-1], q.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)
    future = torch.triu(torch.ones(n, n, dtype=torch.bool, device=q.device), diagonal=1)
    scores = scores.masked_fill(future, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def _qkv(batch: int, heads: int, n: int, d: int, seed: int, scale: float = 1.0) -> tuple:
    import torch

    g = torch.Generator().manual_seed(seed)
    return tuple(scale * torch.randn(batch, heads, n, d, generator=g) for _ in range(3))


def _attention_cases() -> list[Case]:
    return [Case("batch 2, 3 heads, 5 tokens, head size 8", _qkv(2, 3, 5, 8, 0)),
            Case("a single token (it can attend only to itself)", _qkv(1, 1, 1, 4, 1)),
            Case("1 head, 6 tokens, head size 64, large scores", _qkv(1, 1, 6, 64, 2, scale=3.0))]


def _no_mask(q: Any, k: Any, v: Any) -> Any:
    import math

    import torch

    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1) @ v


def _no_scale(q: Any, k: Any, v: Any) -> Any:
    import torch

    n = q.shape[-2]
    scores = (q @ k.transpose(-2, -1)).masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), 1), float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def _scale_by_d(q: Any, k: Any, v: Any) -> Any:
    import torch

    n = q.shape[-2]
    scores = (q @ k.transpose(-2, -1) / q.shape[-1]).masked_fill(
        torch.triu(torch.ones(n, n, dtype=torch.bool), 1), float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def _mask_after_softmax(q: Any, k: Any, v: Any) -> Any:
    import math

    import torch

    n = q.shape[-2]
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    return weights.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), 1), 0.0) @ v


def _softmax_over_queries(q: Any, k: Any, v: Any) -> Any:
    import math

    import torch

    n = q.shape[-2]
    scores = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).masked_fill(
        torch.triu(torch.ones(n, n, dtype=torch.bool), 1), float("-inf"))
    return torch.nan_to_num(torch.softmax(scores, dim=-2)) @ v


ATTENTION_MISTAKES = [
    (_no_mask, "every token also attends to the tokens after it: the causal mask is missing "
               "(set the scores above the diagonal to -inf before the softmax)."),
    (_no_scale, "the scores are not divided by sqrt(head size), so the softmax is too peaked."),
    (_scale_by_d, "you divided the scores by the head size; divide by its square root."),
    (_mask_after_softmax, "you masked after the softmax, so each row no longer sums to 1: mask the scores "
                          "with -inf first, then take the softmax."),
    (_softmax_over_queries, "the softmax runs over the queries (dim=-2); each query's weights over the keys "
                            "must sum to 1 (dim=-1)."),
]

q5 = Exercise(
    "q5",
    "Write causal_attention(q, k, v) for tensors of shape (batch, heads, tokens, head size): scores q k^T "
    "divided by sqrt(head size), the future masked, a softmax over the keys, then the weighted sum of v. "
    "Do not call F.scaled_dot_product_attention (the check compares with it).",
    same_as(causal_attention, _attention_cases, ATTENTION_MISTAKES),
    "torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1) marks the future; "
    "scores.masked_fill(mask, float('-inf')) hides it; torch.softmax(scores, dim=-1).",
    lambda: causal_attention,
    objective=WRITE_ATTENTION_OBJ,
)


# q6 (code): the probabilities that top-k sampling with a temperature draws the next token from.
def next_token_probs(logits: Any, temperature: float = 1.0, top_k: int | None = None) -> Any:
    """Next-token probabilities: logits divided by the temperature, all but the top k removed, softmax."""
    import torch

    scaled = logits / temperature
    if top_k is not None:
        kth = torch.topk(scaled, top_k, dim=-1).values[..., -1:]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    return torch.softmax(scaled, dim=-1)


def _logits_cases() -> list[Case]:
    import torch

    g = torch.Generator().manual_seed(5)
    logits = 3 * torch.randn(2, 10, generator=g)
    return [Case("temperature 0.5, no top-k", (logits,), {"temperature": 0.5}),
            Case("temperature 1, top-k 3", (logits,), {"temperature": 1.0, "top_k": 3}),
            Case("temperature 2, top-k 1 (that is greedy)", (logits,), {"temperature": 2.0, "top_k": 1})]


def _times_temperature(logits: Any, temperature: float = 1.0, top_k: int | None = None) -> Any:
    return next_token_probs(logits * temperature * temperature, temperature, top_k)


def _not_renormalised(logits: Any, temperature: float = 1.0, top_k: int | None = None) -> Any:
    import torch

    probs = torch.softmax(logits / temperature, dim=-1)
    if top_k is not None:
        kth = torch.topk(probs, top_k, dim=-1).values[..., -1:]
        probs = probs.masked_fill(probs < kth, 0.0)
    return probs


def _temperature_ignored(logits: Any, temperature: float = 1.0, top_k: int | None = None) -> Any:
    return next_token_probs(logits, 1.0, top_k)


q6 = Exercise(
    "q6",
    "Write next_token_probs(logits, temperature=1.0, top_k=None): divide the logits by the temperature, "
    "keep only the top_k largest (when top_k is given), and return the softmax over the last dimension.",
    same_as(next_token_probs, _logits_cases, [
        (_times_temperature, "you multiplied by the temperature; divide the logits by it."),
        (_not_renormalised, "you zeroed the probabilities outside the top k after the softmax, so they no "
                            "longer sum to 1: remove the other logits (-inf) before the softmax."),
        (_temperature_ignored, "the temperature has no effect in your function."),
    ]),
    "torch.topk(x, k).values[..., -1:] is the k-th largest value; masked_fill(x < kth, float('-inf')).",
    lambda: next_token_probs,
    objective=DECODING_OBJ,
)
