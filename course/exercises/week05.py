"""Exercises for week 5, "Transformers for NLP": the cost of attention, a confusion matrix, top-p and temperature
worked by hand, attention with a padding mask, next-token probabilities, and reading a validation curve."""

from __future__ import annotations

from typing import Any

from course.exercises import Case, Exercise, near, same_as
from course.syllabus import objective

NOTEBOOK = "05a-transformers-for-nlp"
ATTENTION_OBJ = objective(NOTEBOOK, "Look at attention")
WRITE_ATTENTION_OBJ = objective(NOTEBOOK, "Write scaled dot-product")
FINETUNE_OBJ = objective(NOTEBOOK, "Fine-tune DistilBERT")
EVAL_OBJ = objective(NOTEBOOK, "Evaluate with accuracy")
DECODING_OBJ = objective(NOTEBOOK, "Compare greedy, top-k,")

# q1: scores of a 12-head model at 512 tokens, stored in fp32.
HEADS, TOKENS = 12, 512


def _q1_solve() -> float:
    return HEADS * TOKENS * TOKENS * 4 / 2**20  # one score per (query, key) pair, per head, 4 bytes


q1 = Exercise(
    "q1",
    f"One attention layer with {HEADS} heads reads {TOKENS} tokens. How many MiB do its fp32 attention scores take "
    "(one sequence)?",
    near(_q1_solve(), rel=0.03, unit="MiB", mistakes={
        _q1_solve() / HEADS: "Every head has its own score matrix.",
        HEADS * TOKENS * 4 / 2**20: "Each of the 512 queries scores each of the 512 keys: tokens squared.",
        HEADS * TOKENS * TOKENS * 4 / 1e6: "1 MiB is 2**20 bytes; you divided by 10**6 (that gives MB).",
        HEADS * TOKENS * TOKENS * 2 / 2**20: "fp32 takes 4 bytes a number, not 2.",
        HEADS * TOKENS * TOKENS / 2**20: "That counts the scores (in units of 2**20); each takes 4 bytes in fp32.",
        HEADS * TOKENS * TOKENS * 4 / 2**30: "That is in GiB: the question asks for MiB (2**20 bytes).",
        HEADS * TOKENS * TOKENS * 4: "That is in bytes: divide by 2**20 for MiB.",
    }),
    "Scores form a tokens x tokens matrix per head; fp32 is 4 bytes; 1 MiB = 2**20 bytes.",
    _q1_solve,
    objective=ATTENTION_OBJ,
)

# q2: a confusion matrix of a sentiment classifier, rows = true class, columns = predicted.
MATRIX = [[40, 10], [5, 45]]  # negative row, positive row


def _q2_solve() -> float:
    return (MATRIX[0][0] + MATRIX[1][1]) / sum(map(sum, MATRIX))


q2 = Exercise(
    "q2",
    f"A sentiment model's confusion matrix (rows: true negative, positive; columns: predicted) is {MATRIX}. "
    "What is its accuracy, as a fraction?",
    near(_q2_solve(), rel=0.01, mistakes={
        100 * _q2_solve(): "Give a fraction between 0 and 1, not a percentage.",
        (MATRIX[0][1] + MATRIX[1][0]) / 100: "That is the error rate: accuracy counts the diagonal.",
        MATRIX[1][1] / sum(MATRIX[1]): "That is the recall of the positive class (one row); accuracy counts both "
                                       "diagonal cells over all 100 sentences.",
        MATRIX[0][0] / sum(MATRIX[0]): "That is the recall of the negative class (one row); accuracy counts both "
                                       "diagonal cells over all 100 sentences.",
        MATRIX[1][1] / (MATRIX[0][1] + MATRIX[1][1]): "That is the precision of the positive class (one column); "
                                                      "accuracy counts both diagonal cells over all 100 sentences.",
    }),
    "Correct predictions sit on the diagonal; divide by all predictions.",
    _q2_solve,
    objective=EVAL_OBJ,
)

# q3: top-p (nucleus) sampling by hand.
NEXT = {"cat": 0.15, "dog": 0.5, "car": 0.05, "sun": 0.3}
TOP_P = 0.9


def _q3_solve() -> int:
    total, kept = 0.0, 0
    for prob in sorted(NEXT.values(), reverse=True):  # the likeliest first, until the sum reaches p
        total, kept = total + prob, kept + 1
        if total >= TOP_P:
            break
    return kept


q3 = Exercise(
    "q3",
    f"A model's next-token probabilities are {NEXT}. Top-p sampling with p = {TOP_P} keeps the smallest set of the "
    "likeliest tokens whose probabilities add up to at least p. How many tokens can it draw from?",
    near(_q3_solve(), rel=0.0, unit="tokens", mistakes={
        2: "0.5 + 0.3 = 0.8 has not reached 0.9 yet: keep adding the next likeliest token.",
        4: "0.5 + 0.3 + 0.15 = 0.95 already reaches 0.9: the last token is cut.",
        1: "One token is what greedy keeps; top-p keeps adding tokens until their sum reaches p.",
        0.95: "That is the probability the kept tokens hold together; the question asks how many tokens they are.",
    }),
    "Sort the probabilities from the largest, add them up one by one, and stop as soon as the sum reaches p.",
    _q3_solve,
    objective=DECODING_OBJ,
)

# q4: temperature by hand.
LOGITS, TEMPERATURE = (2.0, 0.0), 2.0


def _softmax_first(logits: tuple[float, float], t: float) -> float:
    import math

    a, b = (math.exp(x / t) for x in logits)
    return a / (a + b)


def _q4_solve() -> float:
    return _softmax_first(LOGITS, TEMPERATURE)


q4 = Exercise(
    "q4",
    f"Two candidate tokens have logits {list(LOGITS)}. With temperature {TEMPERATURE}, what probability does sampling "
    "give the first one?",
    near(_q4_solve(), rel=0.01, mistakes={
        _softmax_first(LOGITS, 1.0): "That is the probability at temperature 1: divide the logits by T first.",
        _softmax_first((LOGITS[0] * TEMPERATURE, LOGITS[1] * TEMPERATURE), 1.0):
            "You multiplied the logits by T; divide them, which flattens the distribution when T > 1.",
        0.5: "A temperature of 2 flattens the distribution but does not make the tokens equally likely: take "
             "the softmax of the logits divided by T.",
        1 - _q4_solve(): "That is the probability of the second token (logit 0); the question asks for the first.",
    }),
    "softmax(z / T): exp(2 / 2) / (exp(2 / 2) + exp(0 / 2)).",
    _q4_solve,
    objective=DECODING_OBJ,
)


# q5 (code): scaled dot-product attention with a padding mask, as an encoder (DistilBERT) computes it on a batch.
def padded_attention(q: Any, k: Any, v: Any, attention_mask: Any) -> Any:
    """softmax(q k^T / sqrt(d), padding keys masked) v; attention_mask is (batch, tokens), 1 = real, 0 = padding."""
    import math

    import torch

    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    padding = (attention_mask == 0)[:, None, None, :]  # (batch, 1, 1, keys): the same for every head and query
    return torch.softmax(scores.masked_fill(padding, float("-inf")), dim=-1) @ v


def _qkv_mask(batch: int, heads: int, n: int, d: int, real: list[int], seed: int, scale: float = 1.0) -> tuple:
    import torch

    g = torch.Generator().manual_seed(seed)
    q, k, v = (scale * torch.randn(batch, heads, n, d, generator=g) for _ in range(3))
    mask = torch.zeros(batch, n, dtype=torch.long)
    for row, length in enumerate(real):
        mask[row, :length] = 1  # padding on the right, as the tokenizer pads
    return q, k, v, mask


def _attention_cases() -> list[Case]:
    return [Case("batch 2, 3 heads, 5 tokens, head size 8, the second sentence padded after 3 tokens",
                 _qkv_mask(2, 3, 5, 8, [5, 3], 0)),
            Case("batch 3, 1 head, 7 tokens, head size 4, three lengths (7, 2, 5)", _qkv_mask(3, 1, 7, 4, [7, 2, 5], 1)),
            Case("batch 1, 2 heads, 4 tokens, head size 64, no padding, large scores",
                 _qkv_mask(1, 2, 4, 64, [4], 2, scale=3.0)),
            Case("batch 2, 4 heads, 6 tokens, head size 16, one sentence of a single token",
                 _qkv_mask(2, 4, 6, 16, [1, 6], 3))]


def _scores(q: Any, k: Any) -> Any:
    import math

    return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])


def _no_mask(q: Any, k: Any, v: Any, attention_mask: Any) -> Any:
    import torch

    return torch.softmax(_scores(q, k), dim=-1) @ v


def _masks_queries(q: Any, k: Any, v: Any, attention_mask: Any) -> Any:
    import torch

    padding = (attention_mask == 0)[:, None, :, None]  # rows (queries) instead of columns (keys)
    return torch.softmax(_scores(q, k).masked_fill(padding, float("-inf")), dim=-1) @ v


def _masks_real_tokens(q: Any, k: Any, v: Any, attention_mask: Any) -> Any:
    import torch

    hidden = (attention_mask == 1)[:, None, None, :]
    return torch.softmax(_scores(q, k).masked_fill(hidden, float("-inf")), dim=-1) @ v


def _adds_causal_mask(q: Any, k: Any, v: Any, attention_mask: Any) -> Any:
    import torch

    n = q.shape[-2]
    hidden = (attention_mask == 0)[:, None, None, :] | torch.triu(torch.ones(n, n, dtype=torch.bool), 1)
    return torch.softmax(_scores(q, k).masked_fill(hidden, float("-inf")), dim=-1) @ v


def _mask_after_softmax(q: Any, k: Any, v: Any, attention_mask: Any) -> Any:
    import torch

    weights = torch.softmax(_scores(q, k), dim=-1)
    return weights.masked_fill((attention_mask == 0)[:, None, None, :], 0.0) @ v


def _no_scale(q: Any, k: Any, v: Any, attention_mask: Any) -> Any:
    import torch

    scores = (q @ k.transpose(-2, -1)).masked_fill((attention_mask == 0)[:, None, None, :], float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def _fills_zero(q: Any, k: Any, v: Any, attention_mask: Any) -> Any:
    import torch

    return torch.softmax(_scores(q, k).masked_fill((attention_mask == 0)[:, None, None, :], 0.0), dim=-1) @ v


def _adds_the_mask(q: Any, k: Any, v: Any, attention_mask: Any) -> Any:
    import torch

    return torch.softmax(_scores(q, k) + attention_mask[:, None, None, :], dim=-1) @ v


def _scale_by_d(q: Any, k: Any, v: Any, attention_mask: Any) -> Any:
    return padded_attention(q / q.shape[-1] ** 0.5, k, v, attention_mask)  # one more 1/sqrt(d): 1/d in all


def _scale_by_tokens(q: Any, k: Any, v: Any, attention_mask: Any) -> Any:
    return padded_attention(q * (q.shape[-1] / q.shape[-2]) ** 0.5, k, v, attention_mask)


def _softmax_over_queries(q: Any, k: Any, v: Any, attention_mask: Any) -> Any:
    import torch

    scores = _scores(q, k).masked_fill((attention_mask == 0)[:, None, None, :], float("-inf"))
    return torch.softmax(scores, dim=-2) @ v


def _scales_the_output(q: Any, k: Any, v: Any, attention_mask: Any) -> Any:
    return padded_attention(q * q.shape[-1] ** 0.5, k, v, attention_mask) / q.shape[-1] ** 0.5


def _zeroes_padding_queries(q: Any, k: Any, v: Any, attention_mask: Any) -> Any:
    return padded_attention(q, k, v, attention_mask) * attention_mask[:, None, :, None]


def _renormalised_after_softmax(q: Any, k: Any, v: Any, attention_mask: Any) -> Any:
    """Another style: zero the padding weights after the softmax, then make each row sum to 1 again."""
    import torch

    weights = torch.softmax(_scores(q, k), dim=-1) * attention_mask[:, None, None, :]
    return (weights / weights.sum(dim=-1, keepdim=True)) @ v


def _as_numpy(q: Any, k: Any, v: Any, attention_mask: Any) -> Any:
    return padded_attention(q, k, v, attention_mask).numpy()


def _with_sdpa(q: Any, k: Any, v: Any, attention_mask: Any) -> Any:
    import torch.nn.functional as F

    return F.scaled_dot_product_attention(q, k, v, attn_mask=attention_mask[:, None, None, :].bool())


def _additive_mask_einsum_float64(q: Any, k: Any, v: Any, attention_mask: Any) -> Any:
    """transformers' style: add a very negative number to the padding scores; einsum, in float64."""
    import math

    import torch

    scores = torch.einsum("bhqd,bhkd->bhqk", q.double(), k.double()) / math.sqrt(q.shape[-1])
    scores = scores + (1 - attention_mask[:, None, None, :].double()) * torch.finfo(torch.float64).min
    return torch.einsum("bhqk,bhkd->bhqd", torch.softmax(scores, dim=-1), v.double()).to(q.dtype)


def _per_sentence_loop(q: Any, k: Any, v: Any, attention_mask: Any) -> Any:
    """One sentence at a time: keep only its real keys and values."""
    import math

    import torch

    out = torch.empty_like(q)
    for b in range(q.shape[0]):
        real = attention_mask[b].bool()
        scores = q[b] @ k[b][:, real].transpose(-2, -1) / math.sqrt(q.shape[-1])
        out[b] = torch.softmax(scores, dim=-1) @ v[b][:, real]
    return out


q5 = Exercise(
    "q5",
    "Write padded_attention(q, k, v, attention_mask) for q, k, v of shape (batch, heads, tokens, head size) and the "
    "tokenizer's attention_mask of shape (batch, tokens), 1 for a real token and 0 for padding: scores q k^T divided "
    "by sqrt(head size), every padding key hidden from every query (an encoder: no causal mask), a softmax over the "
    "keys, then the weighted sum of v. Do not call F.scaled_dot_product_attention (the check compares with it).",
    same_as(padded_attention, _attention_cases, [
        (_no_mask, "the padding keys still get weight: hide them (-inf in their score columns) before the softmax."),
        (_masks_queries, "you masked the padding queries (rows), so their rows are all -inf and the softmax gives "
                         "NaN; mask the padding keys (columns): attention_mask[:, None, None, :]."),
        (_masks_real_tokens, "you hid the real tokens and kept the padding: in attention_mask 1 means a real token."),
        (_adds_causal_mask, "you added a causal mask: an encoder reads the whole sentence, only padding is hidden."),
        (_mask_after_softmax, "you masked after the softmax, so each row no longer sums to 1: mask the scores "
                              "with -inf first, then take the softmax."),
        (_no_scale, "the scores are not divided by sqrt(head size), so the softmax is too peaked."),
        (_fills_zero, "a padding score of 0 still gets weight exp(0) after the softmax (multiplying the scores by "
                      "the mask does the same): fill the padding scores with float('-inf')."),
        (_adds_the_mask, "you added the 0/1 mask to the scores (a float attn_mask is added, too), which hides "
                         "nothing: turn padding into -inf (masked_fill) or pass a bool mask."),
        (_scale_by_d, "you divided the scores by the head size; divide by its square root, sqrt(head size)."),
        (_scale_by_tokens, "you divided by the square root of the number of tokens; divide by sqrt(head size), "
                           "q.shape[-1]."),
        (_softmax_over_queries, "the softmax ran over the queries (dim=-2): each query's weights over the keys "
                                "must sum to 1, so take it over the last dimension (dim=-1)."),
        (_scales_the_output, "you divided the output by sqrt(head size); divide the scores, before the softmax."),
        (_zeroes_padding_queries, "you zeroed the outputs at the padding positions: only the padding keys are "
                                  "hidden, a padding query still attends to the real tokens as usual."),
    ], alternatives=[_with_sdpa, _additive_mask_einsum_float64, _per_sentence_loop, _renormalised_after_softmax]),
    "(attention_mask == 0)[:, None, None, :] has shape (batch, 1, 1, keys) and broadcasts over heads and queries; "
    "scores.masked_fill(that, float('-inf')), then torch.softmax(scores, dim=-1).",
    lambda: padded_attention,
    objective=WRITE_ATTENTION_OBJ,
    wrong=((_as_numpy, "return a torch tensor"),),
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
    return [Case("logits (2, 10), temperature 0.5, no top-k", (3 * torch.randn(2, 10, generator=g),),
                 {"temperature": 0.5}),
            Case("logits (3, 7), temperature 1, top-k 3", (3 * torch.randn(3, 7, generator=g),),
                 {"temperature": 1.0, "top_k": 3}),
            Case("logits (2, 4, 6) (batch, positions, vocabulary), temperature 2, top-k 1 (that is greedy)",
                 (torch.randn(2, 4, 6, generator=g),), {"temperature": 2.0, "top_k": 1}),
            Case("logits (1, 9) in float64, temperature 0.8, top-k 5",
                 (2 * torch.randn(1, 9, generator=g, dtype=torch.float64),), {"temperature": 0.8, "top_k": 5}),
            Case("logits (4, 5), the default temperature and top-k", (torch.randn(4, 5, generator=g),))]


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


def _drops_the_kth(logits: Any, temperature: float = 1.0, top_k: int | None = None) -> Any:
    import torch

    scaled = logits / temperature
    if top_k is not None:
        kth = torch.topk(scaled, top_k, dim=-1).values[..., -1:]
        scaled = scaled.masked_fill(scaled <= kth, float("-inf"))
    return torch.softmax(scaled, dim=-1)


def _softmax_over_first_dim(logits: Any, temperature: float = 1.0, top_k: int | None = None) -> Any:
    import torch

    scaled = logits / temperature
    if top_k is not None:
        kth = torch.topk(scaled, top_k, dim=-1).values[..., -1:]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    return torch.softmax(scaled, dim=0)


def _kept_logits(logits: Any, temperature: float = 1.0, top_k: int | None = None) -> Any:
    """The reference's logits before its softmax: divided by the temperature, -inf outside the top k."""
    import torch

    scaled = logits / temperature
    if top_k is not None:
        scaled = scaled.masked_fill(scaled < torch.topk(scaled, top_k, dim=-1).values[..., -1:], float("-inf"))
    return scaled


def _softmax_over_dim_1(logits: Any, temperature: float = 1.0, top_k: int | None = None) -> Any:
    import torch

    return torch.softmax(_kept_logits(logits, temperature, top_k), dim=1)


def _log_probs(logits: Any, temperature: float = 1.0, top_k: int | None = None) -> Any:
    return next_token_probs(logits, temperature, top_k).log()


def _keeps_only_the_largest(logits: Any, temperature: float = 1.0, top_k: int | None = None) -> Any:
    return next_token_probs(logits, temperature, top_k and 1)


def _fills_zero_logits(logits: Any, temperature: float = 1.0, top_k: int | None = None) -> Any:
    import torch

    scaled = logits / temperature
    if top_k is not None:
        kth = torch.topk(scaled, top_k, dim=-1).values[..., -1:]
        scaled = scaled.masked_fill(scaled < kth, 0.0)
    return torch.softmax(scaled, dim=-1)


def _normalised_over_everything(logits: Any, temperature: float = 1.0, top_k: int | None = None) -> Any:
    import torch

    scaled = _kept_logits(logits, temperature, top_k)
    weights = torch.exp(scaled - scaled.max())
    return weights / weights.sum()


def _renormalised_probs(logits: Any, temperature: float = 1.0, top_k: int | None = None) -> Any:
    """Another style: softmax first, zero all but the top k probabilities, divide by what is left."""
    import torch

    probs = torch.softmax(logits / temperature, dim=-1)
    if top_k is not None:
        kth = torch.topk(probs, top_k, dim=-1).values[..., -1:]
        probs = probs.masked_fill(probs < kth, 0.0)
    return probs / probs.sum(dim=-1, keepdim=True)


def _sorted_scatter(logits: Any, temperature: float = 1.0, top_k: int | None = None) -> Any:
    """Sort, keep the first k, softmax them, and scatter the probabilities back to their places."""
    import torch

    scaled = logits / temperature
    k = top_k if top_k is not None else scaled.shape[-1]
    values, index = torch.sort(scaled, dim=-1, descending=True)
    return torch.zeros_like(scaled).scatter(-1, index[..., :k], torch.softmax(values[..., :k], dim=-1))


def _numpy_style(logits: Any, temperature: float = 1.0, top_k: int | None = None) -> Any:
    """exp(z - max) / sum, in float64, with the cut-off taken from a sorted copy."""
    import torch

    z = logits.double() / temperature
    if top_k is not None:
        kth = z.sort(dim=-1, descending=True).values[..., top_k - 1: top_k]
        z = torch.where(z >= kth, z, torch.tensor(float("-inf"), dtype=z.dtype))
    e = torch.exp(z - z.max(dim=-1, keepdim=True).values)
    return (e / e.sum(dim=-1, keepdim=True)).to(logits.dtype)


q6 = Exercise(
    "q6",
    "Write next_token_probs(logits, temperature=1.0, top_k=None) for logits whose last dimension is the vocabulary: "
    "divide the logits by the temperature, keep only the top_k largest (when top_k is given), and return the softmax "
    "over the last dimension.",
    same_as(next_token_probs, _logits_cases, [
        (_times_temperature, "you multiplied by the temperature; divide the logits by it."),
        (_not_renormalised, "you zeroed the probabilities outside the top k after the softmax, so they no "
                            "longer sum to 1: remove the other logits (-inf) before the softmax."),
        (_temperature_ignored, "the temperature has no effect in your function."),
        (_drops_the_kth, "you removed the k-th largest logit too (<= instead of <): top-k keeps k tokens."),
        (_softmax_over_first_dim, "the softmax must run over the vocabulary, the last dimension (dim=-1)."),
        (_softmax_over_dim_1, "the softmax must run over the vocabulary, the last dimension (dim=-1); dim=1 is "
                              "the positions when logits are (batch, positions, vocabulary)."),
        (_log_probs, "you returned log-probabilities (log_softmax): sampling draws from the probabilities, "
                     "torch.softmax."),
        (_keeps_only_the_largest, "you kept only the largest logit: topk(...).values[..., -1:] is the k-th "
                                  "largest, the smallest one kept; [..., :1] is the largest."),
        (_fills_zero_logits, "a logit of 0 is not removed (exp(0) = 1 is still a weight): fill the logits outside "
                             "the top k with float('-inf')."),
        (_normalised_over_everything, "you divided by the sum over the whole tensor: normalise each row over the "
                                      "vocabulary (dim=-1, keepdim=True), or use torch.softmax(..., dim=-1)."),
    ], alternatives=[_sorted_scatter, _numpy_style, _renormalised_probs]),
    "torch.topk(x, k).values[..., -1:] is the k-th largest value; masked_fill(x < kth, float('-inf')).",
    lambda: next_token_probs,
    objective=DECODING_OBJ,
)

# q7: reading a validation curve.
TRAIN_LOSS = [0.45, 0.28, 0.19, 0.12, 0.07]
VAL_LOSS = [0.39, 0.31, 0.29, 0.33, 0.41]


def _q7_solve() -> int:
    return 1 + min(range(len(VAL_LOSS)), key=VAL_LOSS.__getitem__)


q7 = Exercise(
    "q7",
    f"A fine-tuning run logs, after epochs 1 to {len(VAL_LOSS)}, training losses {TRAIN_LOSS} and validation losses "
    f"{VAL_LOSS}. After which epoch are the weights you should keep (counting epochs from 1)?",
    near(_q7_solve(), rel=0.0, unit="", mistakes={
        len(VAL_LOSS): "The training loss is lowest at the end, but the validation loss has been rising since "
                       "epoch 3: the model is memorising the training set.",
        _q7_solve() - 1: "Count epochs from 1: the lowest validation loss is the third number.",
        1: "The validation loss still falls after epoch 1.",
        _q7_solve() + 1: "After that epoch the validation loss has already risen (0.29, then 0.33): keep the weights "
                         "of the epoch with the lowest one.",
        min(VAL_LOSS): "That is the lowest validation loss itself; the question asks after which epoch it came.",
    }),
    "The training loss always falls; keep the epoch where the validation loss is lowest.",
    _q7_solve,
    objective=FINETUNE_OBJ,
)
