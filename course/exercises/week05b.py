"""Exercises for week 5, "Build a GPT": a GPT's parameter count, perplexity, and five pieces written by hand: fused
multi-head causal attention, a post-norm block, the shifted loss with padding, a sampler's probabilities, Meta's RoPE."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from course.exercises import Case, Exercise, near, same_as
from course.syllabus import objective

NOTEBOOK = "05b-build-a-gpt"
BUILD_OBJ = objective(NOTEBOOK, "Build a GPT")
TRAIN_OBJ = objective(NOTEBOOK, "Train it on")
SAMPLE_OBJ = objective(NOTEBOOK, "Sample from it")
GPT2_OBJ = objective(NOTEBOOK, "Load GPT-2")
LLAMA_OBJ = objective(NOTEBOOK, "Write what Llama")

VOCAB, CONTEXT, WIDTH, LAYERS = 50257, 1024, 1024, 24  # q1: GPT-2 medium (config.json of openai-community/gpt2-medium)


def _gpt_params(head: bool = False, positions: bool = True, small_terms: bool = True, norms: int = 2,
                final_norm: bool = True, out_proj: bool = True) -> int:
    d, small = WIDTH, int(small_terms)
    attention = (3 + int(out_proj)) * (d * d + d * small)  # Q, K, V (and the output projection), with biases
    block = attention + 8 * d * d + 5 * d * small + 2 * norms * d * small  # MLP, LayerNorms
    embeddings = VOCAB * d + CONTEXT * d * int(positions) + VOCAB * d * int(head)
    return LAYERS * block + embeddings + 2 * d * small * int(final_norm)  # + the final LayerNorm


q1 = Exercise(
    "q1",
    f"GPT-2 medium is the notebook's GPT at another size: vocabulary {VOCAB:,}, context {CONTEXT:,}, width "
    f"{WIDTH:,}, {LAYERS} blocks, the MLP 4 times as wide, biases in every linear layer, and an output head that "
    "shares the token-embedding matrix. How many parameters does it have, exactly?",
    near(_gpt_params(), rel=1e-6, mistakes={
        _gpt_params(head=True): "The output head reuses the token embeddings (weight tying): count that matrix once.",
        _gpt_params(positions=False): "The position embeddings (one learned vector per position) are parameters too.",
        _gpt_params(small_terms=False): "Close: add the biases of every linear layer and the LayerNorms' weights and "
                                        "biases (two a block, one at the end).",
        _gpt_params(norms=1): "Each block has two LayerNorms (one before attention, one before the MLP), each with "
                              "a weight and a bias of d numbers.",
        _gpt_params(final_norm=False): "Almost: add the final LayerNorm after the last block (a weight and a bias).",
        _gpt_params(out_proj=False): "Attention has four d x d projections: Q, K, V and the output one (c_proj).",
        355_000_000: "That is the model's rounded name (355M); the question asks for the exact count.",
    }),
    "Per block: attention 4 d^2 + 4 d, MLP 8 d^2 + 5 d, two LayerNorms 4 d. Then the token embeddings (vocabulary x "
    "d), the position embeddings (context x d) and the final LayerNorm (2 d). Check: the same sum for GPT-2 small "
    "(d 768, 12 blocks) gives 124,439,808.",
    _gpt_params,
    objective=GPT2_OBJ,
)

VAL_LOSS = 1.10  # q2: nats per character

q2 = Exercise(
    "q2",
    f"A character-level model reaches a validation cross-entropy of {VAL_LOSS} (F.cross_entropy, natural "
    "logarithm) per character. What is its perplexity?",
    near(math.exp(VAL_LOSS), rel=0.01, mistakes={
        2**VAL_LOSS: "F.cross_entropy uses the natural logarithm: perplexity is e**loss, not 2**loss.",
        1 / VAL_LOSS: "Perplexity is the exponential of the loss.",
        math.exp(-VAL_LOSS): "That is e**(-loss), the average probability of the right character; perplexity is "
                             "e**loss, its inverse.",
        10**VAL_LOSS: "F.cross_entropy uses the natural logarithm: perplexity is e**loss, not 10**loss.",
    }),
    "Perplexity = exp(mean cross-entropy): the number of equally likely choices that would be as uncertain.",
    lambda: math.exp(VAL_LOSS),
    objective=TRAIN_OBJ,
)


# q3 (code): multi-head causal self-attention from GPT-2's fused Q, K, V weight.
def fused_causal_attention(x: Any, w_qkv: Any, b_qkv: Any, w_o: Any, b_o: Any, n_heads: int) -> Any:
    """Multi-head causal self-attention with one fused (3d, d) projection for Q, K and V, then the output one."""
    B, T, D = x.shape
    hd = D // n_heads
    q, k, v = (x @ w_qkv.T + b_qkv).split(D, dim=-1)
    q, k, v = (t.view(B, T, n_heads, hd).transpose(1, 2) for t in (q, k, v))
    scores = q @ k.transpose(-2, -1) / math.sqrt(hd)
    future = torch.triu(torch.ones(T, T, dtype=torch.bool, device=x.device), diagonal=1)
    weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
    out = (weights @ v).transpose(1, 2).reshape(B, T, D)
    return out @ w_o.T + b_o


def _attention_case(label: str, B: int, T: int, D: int, H: int, seed: int, scale: float = 1.0) -> Case:
    g = torch.Generator().manual_seed(seed)
    x, w_qkv = torch.randn(B, T, D, generator=g), scale * torch.randn(3 * D, D, generator=g) / math.sqrt(D)
    w_o = torch.randn(D, D, generator=g) / math.sqrt(D)
    return Case(label, (x, w_qkv, 0.1 * torch.randn(3 * D, generator=g), w_o, 0.1 * torch.randn(D, generator=g), H))


def _attention_variant(mask_diagonal: int | None = 1, scale: str = "head", split: bool = True, merge: bool = True,
                       order: str = "qkv", out_proj: str = "right", softmax_dim: int = -1, mask_after: bool = False,
                       qkv_bias: bool = True, per_head_qkv: bool = False, heads: int | None = None) -> Any:
    """A wrong implementation: one ingredient of the reference changed."""

    def attention(x, w_qkv, b_qkv, w_o, b_o, n_heads):
        B, T, D = x.shape
        n_heads = heads or n_heads
        hd = D // n_heads
        projected = x @ w_qkv.T + (b_qkv if qkv_bias else 0)
        if per_head_qkv:  # (q, k, v) of head 0, then of head 1...: not how the fused weight is stacked
            parts = dict(zip("qkv", projected.view(B, T, n_heads, 3, hd).unbind(3), strict=True))
            parts = {name: t.reshape(B, T, D) for name, t in parts.items()}
        else:
            parts = dict(zip(order, projected.split(D, dim=-1), strict=True))
        q, k, v = (parts[name].view(B, T, n_heads, hd).transpose(1, 2) if split  # else tokens and heads mixed up:
                   else parts[name].reshape(B, n_heads, T, hd) for name in "qkv")
        scores = q @ k.transpose(-2, -1) / {"head": math.sqrt(hd), "width": math.sqrt(D), "none": 1.0}[scale]
        future = torch.triu(torch.ones(T, T, dtype=torch.bool), mask_diagonal or 0)
        if mask_diagonal is not None and not mask_after:
            scores = scores.masked_fill(future, float("-inf"))
        weights = torch.softmax(scores, dim=softmax_dim)
        out = (weights.masked_fill(future, 0.0) if mask_after else weights) @ v
        out = out.transpose(1, 2).reshape(B, T, D) if merge else out.reshape(B, T, D)
        return out if out_proj == "missing" else out @ (w_o.T if out_proj == "right" else w_o) + b_o

    return attention


def _attention_sdpa(x, w_qkv, b_qkv, w_o, b_o, n_heads):
    """Another style: einsum projections and PyTorch's fused attention kernel."""
    B, T, D = x.shape
    q, k, v = (torch.einsum("btd,ed->bte", x, w_qkv) + b_qkv).view(B, T, 3, n_heads, D // n_heads).permute(2, 0, 3, 1, 4)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return torch.einsum("bte,de->btd", out.transpose(1, 2).reshape(B, T, D), w_o) + b_o


def _attention_hides_the_past(x, w_qkv, b_qkv, w_o, b_o, n_heads):
    B, T, D = x.shape
    q, k, v = ((x @ w_qkv.T + b_qkv).split(D, dim=-1))
    q, k, v = (t.view(B, T, n_heads, D // n_heads).transpose(1, 2) for t in (q, k, v))
    past = torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-1)  # tril where triu belongs
    weights = torch.softmax((q @ k.transpose(-2, -1) / math.sqrt(D // n_heads)).masked_fill(past, float("-inf")), -1)
    return (weights @ v).transpose(1, 2).reshape(B, T, D) @ w_o.T + b_o


def _attention_linear_tril(x, w_qkv, b_qkv, w_o, b_o, n_heads):
    """Another style: F.linear, chunk, unflatten, and a lower-triangular mask filled with a large negative number."""
    T = x.shape[1]
    q, k, v = (t.unflatten(-1, (n_heads, -1)).transpose(1, 2) for t in F.linear(x, w_qkv, b_qkv).chunk(3, dim=-1))
    scores = (q @ k.mT / math.sqrt(q.shape[-1])).masked_fill(torch.tril(torch.ones(T, T)) == 0, -1e9)
    return F.linear((torch.softmax(scores, dim=-1) @ v).transpose(1, 2).flatten(2), w_o, b_o)


q3 = Exercise(
    "q3",
    "Write fused_causal_attention(x, w_qkv, b_qkv, w_o, b_o, n_heads), multi-head causal self-attention as GPT-2 "
    "stores it: x is (batch, tokens, d); w_qkv is ONE (3d, d) matrix in nn.Linear's layout (out, in) holding the "
    "Q, K and V projections stacked in that order, b_qkv its (3d,) bias; w_o (d, d) and b_o (d,) the output "
    "projection. Project, split into Q, K, V, split each into n_heads heads, run causal scaled dot-product "
    "attention in every head, merge the heads and apply the output projection. Return (batch, tokens, d).",
    same_as(fused_causal_attention, lambda: [
        _attention_case("batch 2, 5 tokens, width 16, 4 heads", 2, 5, 16, 4, 0),
        _attention_case("batch 3, 7 tokens, width 24, 3 heads", 3, 7, 24, 3, 1),
        _attention_case("1 sequence of 1 token, width 8, 2 heads", 1, 1, 8, 2, 2),
        _attention_case("batch 1, 6 tokens, width 32, 8 heads, large scores", 1, 6, 32, 8, 3, scale=3.0),
        _attention_case("batch 2, 4 tokens, width 12, a single head", 2, 4, 12, 1, 4)], mistakes=[
        (_attention_variant(mask_diagonal=None), "every token also sees the tokens after it: the causal mask is "
                                                 "missing (scores above the diagonal to -inf, before the softmax)."),
        (_attention_variant(mask_diagonal=2), "your mask is off by one: each token sees the next token too. "
                                              "torch.triu(..., diagonal=1) marks exactly the future."),
        (_attention_variant(mask_diagonal=0), "your mask is off by one: it also hides each token from itself "
                                              "(diagonal=0), so the first row is all -inf and gives NaN."),
        (_attention_variant(scale="none"), "the scores are not divided by sqrt(head size), so the softmax is too peaked."),
        (_attention_variant(scale="width"), "you divided by sqrt(d), the model width; divide by sqrt(d // n_heads), "
                                            "the size of one head."),
        (_attention_variant(split=False), "the heads are not split correctly: view (batch, tokens, heads, head size) "
                                          "first, then transpose(1, 2); a reshape straight to (batch, heads, tokens, "
                                          "head size) mixes tokens and heads."),
        (_attention_variant(merge=False), "the heads are not merged correctly: transpose(1, 2) back to (batch, tokens, "
                                          "heads, head size) before the reshape to (batch, tokens, d)."),
        (_attention_variant(order="kqv"), "the fused weight holds Q, K, V in that order: the first d outputs are "
                                          "the queries."),
        (_attention_variant(out_proj="transposed"), "nn.Linear stores its weight as (out, in) and computes x @ W.T "
                                                    "+ b: transpose w_o too (a square matrix hides the mistake)."),
        (_attention_variant(out_proj="missing"), "the output projection (w_o, b_o) is missing after the heads are "
                                                 "merged."),
        (_attention_variant(softmax_dim=-2), "the softmax ran over the queries (dim=-2): each query's weights over "
                                             "the keys must sum to 1, so take it over the last dimension (dim=-1)."),
        (_attention_variant(mask_after=True), "you masked after the softmax, so each row no longer sums to 1: fill "
                                              "the future scores with -inf first, then take the softmax."),
        (_attention_variant(qkv_bias=False), "the fused bias b_qkv is missing: x @ w_qkv.T + b_qkv."),
        (_attention_variant(per_head_qkv=True), "the fused weight stacks all of Q, then all of K, then all of V "
                                                "(split(d, dim=-1)), not q, k, v head by head."),
        (_attention_variant(heads=4), "use the n_heads you are given, not a number written into the function."),
        (_attention_hides_the_past, "you hid the past (torch.tril) and let each token see the future: the mask "
                                    "marks the entries above the diagonal, torch.triu(..., diagonal=1)."),
    ], alternatives=[_attention_sdpa, _attention_linear_tril]),
    "q, k, v = (x @ w_qkv.T + b_qkv).split(d, dim=-1); heads: t.view(B, T, n_heads, d // n_heads).transpose(1, 2); "
    "merge: out.transpose(1, 2).reshape(B, T, d).",
    lambda: fused_causal_attention,
    objective=BUILD_OBJ,
)


# q4 (code): the post-norm block of the 2017 Transformer, BERT and 05a's DistilBERT.
def post_norm_block(x: Any, attn: Any, mlp: Any, norm1: Any, norm2: Any) -> Any:
    """A post-norm transformer block: each sub-layer's output is added to its input, then normalised."""
    h = norm1(x + attn(x))
    return norm2(h + mlp(h))


def _block_case(label: str, B: int, T: int, D: int, seed: int) -> Case:
    with torch.random.fork_rng():  # the learner's own random state is left as it was
        torch.manual_seed(seed)
        mlp = nn.Sequential(nn.Linear(D, 2 * D), nn.GELU(), nn.Linear(2 * D, D))
        norm1, norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
        for norm in (norm1, norm2):  # distinct gains and shifts, so the two norms cannot be swapped unseen
            nn.init.normal_(norm.weight, 1.0, 0.5)
            nn.init.normal_(norm.bias, 0.0, 0.5)
        attn = nn.Sequential(nn.Linear(D, D), nn.Tanh())  # a stand-in: the block's wiring is what is checked
        return Case(label, (2 * torch.randn(B, T, D) + 1, attn, mlp, norm1, norm2))


def _block_loop(x, attn, mlp, norm1, norm2):
    """Another style: the same two steps as a loop over (sub-layer, norm) pairs."""
    for sublayer, norm in ((attn, norm1), (mlp, norm2)):
        x = norm(x + sublayer(x))
    return x


q4 = Exercise(
    "q4",
    "The notebook's blocks are pre-norm (GPT-2, Llama). The 2017 Transformer, BERT and 05a's DistilBERT are post-norm: "
    "each sub-layer reads the stream as it is, its output is added back (the residual) and the sum is normalised. Write "
    "post_norm_block(x, attn, mlp, norm1, norm2) that way: attention with norm1, then the MLP with norm2 (all modules).",
    same_as(post_norm_block, lambda: [_block_case("batch 2, 5 tokens, width 8", 2, 5, 8, 0),
                                      _block_case("batch 1, 3 tokens, width 16", 1, 3, 16, 1),
                                      _block_case("batch 3, 1 token, width 4", 3, 1, 4, 2)], mistakes=[
        (lambda x, attn, mlp, norm1, norm2: (h := x + attn(norm1(x))) + mlp(norm2(h)),
         "that is the pre-norm block of GPT-2 and Llama (normalise, sub-layer, add); post-norm adds the sub-layer's "
         "output first, then normalises the sum."),
        (lambda x, attn, mlp, norm1, norm2: norm2(mlp(norm1(attn(x)))),
         "the residual connections are missing: add each sub-layer's input to its output."),
        (lambda x, attn, mlp, norm1, norm2: (h := x + norm1(attn(x))) + norm2(mlp(h)),
         "you normalised the sub-layer's output before adding it; post-norm normalises the sum (x + attn(x))."),
        (lambda x, attn, mlp, norm1, norm2: post_norm_block(x, attn, mlp, norm2, norm1),
         "norm1 belongs to the attention step and norm2 to the MLP step."),
        (lambda x, attn, mlp, norm1, norm2: norm2(norm1(x + attn(x)) + mlp(x)),
         "the MLP must read the output of the attention step, not the block's input."),
        (lambda x, attn, mlp, norm1, norm2: norm2((h := x + attn(x)) + mlp(h)),
         "norm1 is missing: normalise the attention step's sum, h = norm1(x + attn(x)), before the MLP reads it."),
        (lambda x, attn, mlp, norm1, norm2: norm2(mlp(norm1(x + attn(x)))),
         "the MLP's residual connection is missing: add the MLP's input to its output, norm2(h + mlp(h))."),
        (lambda x, attn, mlp, norm1, norm2: post_norm_block(x, attn, mlp, norm1, norm1),
         "you used norm1 twice: the MLP step has its own LayerNorm, norm2, with its own weights."),
        (lambda x, attn, mlp, norm1, norm2: norm2(x + mlp(norm1(x + attn(x)))),
         "the MLP's residual adds the MLP's own input h = norm1(x + attn(x)), not the block's input x."),
        (lambda x, attn, mlp, norm1, norm2: norm1(x + attn(x)),
         "the MLP step is missing: after h = norm1(x + attn(x)) comes norm2(h + mlp(h))."),
    ], alternatives=[_block_loop]),
    "Two lines: h = norm1(x + attn(x)), then norm2(h + mlp(h)).",
    lambda: post_norm_block,
    objective=BUILD_OBJ,
)


# q5 (code): the next-token loss with shifted labels and right padding.
def next_token_loss(logits: Any, ids: Any, pad_id: int) -> Any:
    """Mean cross-entropy of each position's logits against the NEXT token, skipping targets that are padding."""
    pred, target = logits[:, :-1], ids[:, 1:]  # position t predicts token t + 1
    keep = target != pad_id
    return F.cross_entropy(pred[keep], target[keep])


def _loss_case(label: str, lengths: list[int], T: int, V: int, pad_id: int, seed: int) -> Case:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, V, (len(lengths), T), generator=g)
    ids[ids == pad_id] = (pad_id + 1) % V  # real tokens are never the padding id
    for row, n in enumerate(lengths):
        ids[row, n:] = pad_id  # right padding
    logits = (2 * torch.randn(len(lengths), T, V, generator=g)).requires_grad_()  # as a model returns them
    return Case(label, (logits, ids, pad_id))


def _loss_sum(logits, ids, pad_id):
    pred, target = logits[:, :-1], ids[:, 1:]
    return F.cross_entropy(pred[target != pad_id], target[target != pad_id], reduction="sum")


def _loss_over_every_position(logits, ids, pad_id):
    pred, target = logits[:, :-1], ids[:, 1:]
    losses = F.cross_entropy(pred.transpose(1, 2), target, reduction="none")
    return (losses * (target != pad_id)).sum() / target.numel()


def _loss_without_log_softmax(logits, ids, pad_id):
    pred, target = logits[:, :-1], ids[:, 1:]
    return F.nll_loss(pred[target != pad_id], target[target != pad_id])


def _loss_appended_target(logits, ids, pad_id):
    """Another style: the targets shifted left with pad_id appended, so every position has one; (B, V, T) layout."""
    target = torch.cat([ids[:, 1:], torch.full_like(ids[:, :1], pad_id)], dim=1)
    return F.cross_entropy(logits.transpose(1, 2), target, ignore_index=pad_id)


q5 = Exercise(
    "q5",
    "Write next_token_loss(logits, ids, pad_id): logits (batch, tokens, vocabulary) is what the model returned for "
    "ids (batch, tokens), one row per sequence, padded on the right with pad_id. Return the mean cross-entropy over "
    "every position whose NEXT token is a real token (not pad_id), each position judged on the token that follows "
    "it, averaged over all those positions of the batch together.",
    same_as(next_token_loss, lambda: [
        _loss_case("2 sequences of 6 tokens (the second padded after 3), vocabulary 7, pad id 0", [6, 3], 6, 7, 0, 0),
        _loss_case("3 sequences of 8 tokens padded after 8, 5 and 2, vocabulary 11, pad id 10", [8, 5, 2], 8, 11, 10, 1),
        _loss_case("1 sequence of 4 tokens, no padding, vocabulary 5, pad id 3", [4], 4, 5, 3, 2)], mistakes=[
        (lambda logits, ids, pad_id: F.cross_entropy(logits[ids != pad_id], ids[ids != pad_id]),
         "the labels are not shifted: the logits at position t must predict token t + 1, so pair logits[:, :-1] "
         "with ids[:, 1:]."),
        (lambda logits, ids, pad_id: next_token_loss(logits.flip(1), ids.flip(1), pad_id),
         "you shifted the wrong way: the logits at position t predict the token after it (logits[:, :-1] with "
         "ids[:, 1:])."),
        (lambda logits, ids, pad_id: F.cross_entropy(logits[:, :-1].flatten(0, 1), ids[:, 1:].flatten()),
         "the padding counts in your loss: skip every target equal to pad_id."),
        (lambda logits, ids, pad_id: F.cross_entropy(logits[:, :-1][ids[:, :-1] != pad_id],
                                                     ids[:, 1:][ids[:, :-1] != pad_id]),
         "judge padding on the target (the next token), not on the input: the last real token has nothing real "
         "to predict."),
        (lambda logits, ids, pad_id: torch.stack([next_token_loss(logits[i:i + 1], ids[i:i + 1], pad_id)
                                                  for i in range(len(ids))]).mean(),
         "you averaged each sequence, then the sequences: average over all real targets of the batch together, so "
         "a long sequence weighs more than a short one."),
        (_loss_sum, "you summed the losses (reduction='sum'): return their mean over the real targets."),
        (_loss_over_every_position, "you divided by every position, padding included: divide by the number of "
                                    "real targets (or let cross_entropy average with ignore_index=pad_id)."),
        (lambda logits, ids, pad_id: next_token_loss(logits, ids, 0),
         "use the pad_id you are given, not 0: tokenizers pick different padding ids."),
        (_loss_without_log_softmax, "F.nll_loss expects log-probabilities: apply log_softmax first, or use "
                                    "F.cross_entropy, which takes the logits."),
        (lambda logits, ids, pad_id: next_token_loss(logits, ids, pad_id).exp(),
         "that is the perplexity, e**loss: return the mean cross-entropy itself."),
    ], alternatives=[lambda logits, ids, pad_id: F.cross_entropy(  # another style: cross_entropy skips the padding
        logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), ignore_index=pad_id),
        _loss_appended_target]),
    "pred, target = logits[:, :-1], ids[:, 1:]; keep = target != pad_id; F.cross_entropy(pred[keep], target[keep]) "
    "(or ignore_index=pad_id on the flattened pair).",
    lambda: next_token_loss,
    objective=TRAIN_OBJ,
    wrong=((lambda logits, ids, pad_id: next_token_loss(logits, ids, pad_id).item(), "cut off from its graph"),
           (lambda logits, ids, pad_id: next_token_loss(logits.detach(), ids, pad_id), "cut off from its graph")),
)


# q6 (code): the probabilities a sampler draws from: temperature, then top-k, then top-p.
def sampling_probs(logits: Any, temperature: float = 1.0, top_k: int | None = None,
                   top_p: float | None = None) -> Any:
    """Next-token probabilities after temperature, then top-k, then top-p (nucleus) filtering, renormalised."""
    scores = logits / temperature
    if top_k is not None:
        kth = torch.topk(scores, top_k, dim=-1).values[..., -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if top_p is not None:
        sorted_scores, order = torch.sort(scores, dim=-1, descending=True)
        probs = torch.softmax(sorted_scores, dim=-1)
        before = probs.cumsum(dim=-1) - probs  # probability of the likelier tokens
        sorted_scores = sorted_scores.masked_fill(before >= top_p, float("-inf"))
        scores = torch.full_like(scores, float("-inf")).scatter(-1, order, sorted_scores)
    return torch.softmax(scores, dim=-1)


def _sampling_cases() -> list[Case]:
    g = torch.Generator().manual_seed(7)
    wide, narrow = 2 * torch.randn(3, 12, generator=g), 1.5 * torch.randn(2, 30, generator=g)
    return [Case("temperature 0.7 and top-p 0.9, 3 rows of 12 logits", (wide,), {"temperature": 0.7, "top_p": 0.9}),
            Case("temperature 1.3 and top-k 5", (wide,), {"temperature": 1.3, "top_k": 5}),
            Case("temperature 1.2, top-k 8 and top-p 0.6, 2 rows of 30 logits", (narrow,),
                 {"temperature": 1.2, "top_k": 8, "top_p": 0.6}),
            Case("temperature 2 and top-p 0.5", (narrow,), {"temperature": 2.0, "top_p": 0.5}),
            Case("temperature 0.5, no filter", (wide,), {"temperature": 0.5}),
            Case("top-k 1 (greedy)", (narrow,), {"top_k": 1}),
            Case("top-p 0.75 on rows whose likeliest tokens add up to exactly 0.75 (probabilities 1/2, 1/4, 1/8, ...)",
                 (math.log(2) * torch.tensor([[1.0, 2.0, 0.0, 3.0, 0.0], [2.0, 0.0, 1.0, 0.0, -math.inf]]),),
                 {"top_p": 0.75})]


def _top_p_drops_crossing(logits, temperature=1.0, top_k=None, top_p=None):
    probs = sampling_probs(logits, temperature, top_k, None)
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
    keep = (sorted_probs.cumsum(-1) < (top_p or 2.0)) | (torch.arange(probs.shape[-1]) == 0)
    kept = torch.zeros_like(probs).scatter(-1, order, sorted_probs * keep)
    return kept / kept.sum(-1, keepdim=True)


def _top_p_keeps_one_past(logits, temperature=1.0, top_k=None, top_p=None):
    scores = sampling_probs(logits, temperature, top_k, None).log()
    if top_p is not None:
        sorted_scores, order = torch.sort(scores, dim=-1, descending=True)
        probs = torch.softmax(sorted_scores, dim=-1)
        sorted_scores = sorted_scores.masked_fill(probs.cumsum(dim=-1) - probs > top_p, float("-inf"))  # > for >=
        scores = torch.full_like(scores, float("-inf")).scatter(-1, order, sorted_scores)
    return torch.softmax(scores, dim=-1)


def _top_p_before_top_k(logits, temperature=1.0, top_k=None, top_p=None):
    return sampling_probs(sampling_probs(logits, temperature, None, top_p).log(), 1.0, top_k, None)


def _sorted_order(logits, temperature=1.0, top_k=None, top_p=None):
    return sampling_probs(logits, temperature, top_k, top_p).sort(dim=-1, descending=True).values


def _gathered_back(logits, temperature=1.0, top_k=None, top_p=None):
    scores = sampling_probs(logits, temperature, top_k, None).log()
    if top_p is not None:
        sorted_scores, order = torch.sort(scores, dim=-1, descending=True)
        probs = torch.softmax(sorted_scores, dim=-1)
        sorted_scores = sorted_scores.masked_fill(probs.cumsum(dim=-1) - probs >= top_p, float("-inf"))
        scores = sorted_scores.gather(-1, order)  # gather takes from the sorted positions: scatter puts them back
    return torch.softmax(scores, dim=-1)


def _sampling_with_transformers(logits, temperature=1.0, top_k=None, top_p=None):
    """Another library call: transformers' own logits warpers, in the order generate() applies them."""
    from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper
    ids = torch.zeros(logits.shape[0], 1, dtype=torch.long)
    scores = TemperatureLogitsWarper(temperature)(ids, logits.clone())
    scores = TopKLogitsWarper(top_k)(ids, scores) if top_k is not None else scores
    scores = TopPLogitsWarper(top_p)(ids, scores) if top_p is not None else scores
    return torch.softmax(scores, dim=-1)


q6 = Exercise(
    "q6",
    "Write sampling_probs(logits, temperature=1.0, top_k=None, top_p=None) for logits of shape (batch, vocabulary): "
    "the probabilities a sampler draws the next token from, as transformers' generate() builds them. First divide "
    "the logits by the temperature; then, if top_k is given, keep only the k largest; then, if top_p is given, keep "
    "the smallest set of the likeliest remaining tokens whose probabilities (after the first two steps) add up to "
    "at least top_p. Return the softmax over the kept tokens (0 elsewhere).",
    same_as(sampling_probs, _sampling_cases, mistakes=[
        (lambda logits, temperature=1.0, top_k=None, top_p=None: sampling_probs(logits.log_softmax(-1), 1, top_k, top_p),
         "the temperature has no effect: dividing probabilities after the softmax is undone by renormalising. "
         "Divide the logits, before the softmax."),
        (lambda logits, temperature=1.0, top_k=None, top_p=None: sampling_probs(logits * temperature**2, temperature,
                                                                                top_k, top_p),
         "you multiplied by the temperature; divide the logits by it."),
        (lambda logits, temperature=1.0, top_k=None, top_p=None: sampling_probs(logits, temperature,
                                                                                top_k and top_k + 1, top_p),
         "your top-k keeps k + 1 tokens: the k-th largest value itself is the last one kept."),
        (_top_p_drops_crossing, "your top-p drops the token that takes the total past top_p: keep tokens until the "
                                "sum of the likelier ones reaches top_p, that token included."),
        (lambda logits, temperature=1.0, top_k=None, top_p=None: sampling_probs(
            logits.masked_fill(sampling_probs(logits, 1.0, top_k, top_p) == 0, -math.inf), temperature, top_k),
         "apply top-p to the distribution after the temperature (and top-k), not to the raw logits."),
        (lambda logits, temperature=1.0, top_k=None, top_p=None: torch.softmax(logits / temperature, -1) * (
            sampling_probs(logits, temperature, top_k, top_p) > 0),
         "the kept probabilities do not sum to 1: remove tokens as -inf logits before the softmax (or divide by "
         "the sum)."),
        (_top_p_keeps_one_past, "once the likelier tokens add up to exactly top_p the set is complete: drop a "
                                "token when the probability before it is >= top_p, not only > top_p."),
        (_top_p_before_top_k, "top-p comes after top-k: it sums the probabilities of the tokens top-k kept, "
                              "renormalised, not those of the whole vocabulary."),
        (_sorted_order, "you returned the probabilities sorted: scatter them back to their tokens' places in "
                        "the vocabulary."),
        (_gathered_back, "gather with the sort's order does not undo the sort: scatter(-1, order, sorted_values) "
                         "puts each value back at its token."),
    ], alternatives=[_sampling_with_transformers]),
    "scores = logits / temperature; top-k: scores < torch.topk(scores, k).values[..., -1:] -> -inf; top-p: sort "
    "descending, probs = softmax, drop where probs.cumsum(-1) - probs >= top_p, scatter back; softmax.",
    lambda: sampling_probs,
    objective=SAMPLE_OBJ,
)


# q7 (code): rotary position embeddings in the interleaved layout of Meta's original Llama code.
def rope_interleaved(x: Any, positions: Any, theta: float = 10000.0) -> Any:
    """Rotate each pair (x[..., 2i], x[..., 2i+1]) by the angle position * theta ** (-2i / d)."""
    d = x.shape[-1]
    inv_freq = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d)
    angles = positions.float()[:, None] * inv_freq[None, :]  # (tokens, d / 2)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    even, odd = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out


def _rope_case(label: str, shape: tuple[int, ...], positions: list[int], seed: int, **theta: float) -> Case:
    return Case(label, (torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), torch.tensor(positions)), theta)


def _rope_half_split(x, positions, theta=10000.0):
    angles = positions.float()[:, None] / theta ** (torch.arange(0, x.shape[-1], 2).float() / x.shape[-1])
    angles = torch.cat([angles, angles], dim=-1)
    x1, x2 = x.chunk(2, dim=-1)
    return x * angles.cos() + torch.cat([-x2, x1], dim=-1) * angles.sin()


def _rope_frequencies(exponents: str):
    """A wrong implementation: the reference with other frequencies (i / d, 2i / (d / 2), or a positive exponent)."""

    def rope(x, positions, theta=10000.0):
        d = x.shape[-1]
        i = torch.arange(d // 2, dtype=torch.float32)
        inv_freq = {"i/d": theta ** (-i / d), "2i/(d/2)": theta ** (-2 * i / (d // 2)), "+": theta ** (2 * i / d)}
        angles = positions.float()[:, None] * inv_freq[exponents][None, :]
        even, odd = x[..., 0::2], x[..., 1::2]
        return torch.stack([even * angles.cos() - odd * angles.sin(), even * angles.sin() + odd * angles.cos()],
                           dim=-1).flatten(-2)

    return rope


def _rope_halves_out(x, positions, theta=10000.0):
    d = x.shape[-1]
    angles = positions.float()[:, None] / theta ** (torch.arange(0, d, 2).float() / d)
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.cat([even * angles.cos() - odd * angles.sin(), even * angles.sin() + odd * angles.cos()], dim=-1)


def _rope_stack(x, positions, theta=10000.0):
    """Another style: torch.outer for the angles, and the rotated pairs stacked back into place."""
    d = x.shape[-1]
    angles = torch.outer(positions.float(), 1.0 / theta ** (torch.arange(0, d, 2).float() / d))
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack([a * angles.cos() - b * angles.sin(), a * angles.sin() + b * angles.cos()], dim=-1).flatten(-2)


def _rope_complex(x, positions, theta=10000.0):
    """Another style: pairs as complex numbers, rotated by multiplying with e^(i angle), as Meta's code does."""
    d = x.shape[-1]
    freqs = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d)
    rotations = torch.polar(torch.ones(len(positions), d // 2), torch.outer(positions.float(), freqs))
    pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], d // 2, 2).contiguous())
    return torch.view_as_real(pairs * rotations).flatten(-2).to(x.dtype)


q7 = Exercise(
    "q7",
    "transformers rotates the two HALVES of each head vector (rotate_half), while Meta's original Llama code rotates "
    "NEIGHBOURS. Write rope_interleaved(x, positions, theta=10000.0) for x of shape (..., tokens, d) with d even and "
    "positions a (tokens,) tensor: rotate each pair (x[..., 2i], x[..., 2i+1]) at position p by the angle "
    "p * theta ** (-2i / d), i = 0 .. d/2 - 1, counter-clockwise (the first coordinate becomes a cos - b sin).",
    same_as(rope_interleaved, lambda: [
        _rope_case("(batch 2, 3 heads, 5 tokens, head size 8) at positions 0-4", (2, 3, 5, 8), list(range(5)), 0),
        _rope_case("(1, 2, 4, 16) at positions 10-13 (a continuation), theta 500,000 as in Llama 3", (1, 2, 4, 16),
                   [10, 11, 12, 13], 1, theta=500000.0),
        _rope_case("(6 tokens, head size 4) at positions 0, 3, 7, 8, 20, 1", (6, 4), [0, 3, 7, 8, 20, 1], 2),
        _rope_case("(3 tokens, head size 6), theta 100", (3, 6), [2, 5, 9], 3, theta=100.0)], mistakes=[
        (_rope_half_split, "that is transformers' half-split layout (rotate_half); here neighbours form the pairs: "
                           "x[..., 0::2] with x[..., 1::2]."),
        (lambda x, positions, theta=10000.0: rope_interleaved(x, -positions, theta),
         "you rotate the wrong way: the first coordinate becomes a cos - b sin, the second a sin + b cos."),
        (lambda x, positions, theta=10000.0: rope_interleaved(x, torch.arange(len(positions)), theta),
         "use the positions you are given (a continuation starts at an offset), not 0, 1, 2, ..."),
        (_rope_frequencies("i/d"), "pair i turns at theta ** (-2i / d): with torch.arange(d // 2) as i, multiply "
                                   "it by 2 (or take torch.arange(0, d, 2))."),
        (_rope_frequencies("2i/(d/2)"), "the exponent is -2i / d, with d the whole head size, not d / 2."),
        (_rope_frequencies("+"), "the angle is p * theta ** (-2i / d), a negative exponent: the first pairs "
                                 "turn fastest, the last ones slowest."),
        (lambda x, positions, theta=10000.0: rope_interleaved(x, positions),
         "use the theta you are given (Llama 3 uses 500,000), not 10,000 written in."),
        (_rope_halves_out, "you rotated neighbours but wrote the results as two halves: put a cos - b sin back "
                           "into the even slots and a sin + b cos into the odd ones."),
    ], alternatives=[_rope_complex, _rope_stack]),
    "inv_freq = 1 / theta ** (torch.arange(0, d, 2) / d); angles = positions[:, None] * inv_freq; a, b = x[..., 0::2], "
    "x[..., 1::2]; write a cos - b sin into the even slots and a sin + b cos into the odd ones.",
    lambda: rope_interleaved,
    objective=LLAMA_OBJ,
)
