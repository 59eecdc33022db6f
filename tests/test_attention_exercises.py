"""Week 5a's code exercises: attention with a padding mask and next-token probabilities, written by the learner.

The generic checks (every registered wrong answer refused with its explanation, every other style accepted) live in
tests/test_exercise_answers.py; these tests prove the references against PyTorch and transformers, and the notebook's
own hand-written attention against PyTorch's fused kernel."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from course import notebook_code
from course.exercises import week05 as ex


def _padded(batch=3, heads=2, n=6, d=16, lengths=(6, 2, 4), seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(batch, heads, n, d, generator=g) for _ in range(3))
    mask = torch.zeros(batch, n, dtype=torch.long)
    for row, length in enumerate(lengths):
        mask[row, :length] = 1
    return q, k, v, mask


def test_reference_padded_attention_matches_pytorchs_fused_kernel_with_a_key_mask():
    q, k, v, mask = _padded()
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :].bool())
    torch.testing.assert_close(ex.padded_attention(q, k, v, mask), expected)


def test_padding_changes_nothing_for_the_real_tokens_of_a_sentence():
    """A sentence's real tokens attend exactly as they would without the padding appended."""
    q, k, v, mask = _padded(batch=1, lengths=(3,))
    alone = ex.padded_attention(q[..., :3, :], k[..., :3, :], v[..., :3, :], mask[:, :3])
    torch.testing.assert_close(ex.padded_attention(q, k, v, mask)[..., :3, :], alone)


def test_the_reference_padded_attention_agrees_with_distilberts_own_mask_on_a_padded_batch():
    """transformers' DistilBERT gives a padded sentence the same hidden states as the sentence alone."""
    from helpers import models

    model, tok = models.build_tiny("bert-classifier")
    model.eval()
    batch = tok(["a short one", "a much longer sentence than the first one"], return_tensors="pt", padding=True)
    alone = tok(["a short one"], return_tensors="pt")
    with torch.no_grad():
        padded = model.distilbert(**batch).last_hidden_state[0, : alone["input_ids"].shape[1]]
        single = model.distilbert(**alone).last_hidden_state[0]
    torch.testing.assert_close(padded, single, atol=1e-5, rtol=1e-4)


def test_calling_pytorchs_own_attention_with_the_mask_passes(capsys):
    assert ex.q5.check(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m[:, None, None, :] == 1))


def test_masking_the_queries_is_named_even_though_it_produces_nan(capsys):
    def wrong(q, k, v, m):
        scores = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).masked_fill((m == 0)[:, None, :, None], -math.inf)
        return torch.softmax(scores, -1) @ v

    assert not ex.q5.check(wrong)
    assert "mask the padding keys (columns)" in capsys.readouterr().out


def test_attention_with_the_wrong_shape_says_which_shape_was_expected(capsys):
    assert not ex.q5.check(lambda q, k, v, m: (q @ k.transpose(-2, -1)))
    assert "expected shape (2, 3, 5, 8), got shape (2, 3, 5, 5)" in capsys.readouterr().out


def test_the_notebooks_compute_metrics_is_scikit_learns_accuracy():
    """The Trainer's compute_metrics written in 05a gives the accuracy that scikit-learn computes."""
    import numpy as np
    from sklearn.metrics import accuracy_score

    ns = notebook_code.definitions("05a-transformers-for-nlp", "accuracy_metric")
    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(50, 2)), rng.integers(0, 2, size=50)
    got = ns.accuracy_metric((logits, labels))
    assert got == {"accuracy": accuracy_score(labels, logits.argmax(-1))}


def test_top_k_of_one_is_greedy():
    logits = torch.tensor([[0.1, 2.0, -1.0]])
    assert ex.next_token_probs(logits, temperature=3.0, top_k=1).tolist() == [[0.0, 1.0, 0.0]]


def test_next_token_probs_matches_transformers_top_k_and_temperature_warpers():
    from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper

    logits = 3 * torch.randn(2, 11, generator=torch.Generator().manual_seed(1))
    warped = TopKLogitsWarper(top_k=4)(None, TemperatureLogitsWarper(0.7)(None, logits))
    torch.testing.assert_close(ex.next_token_probs(logits, temperature=0.7, top_k=4), torch.softmax(warped, -1))


def test_the_top_p_answer_matches_transformers_top_p_warper():
    from transformers.generation.logits_process import TopPLogitsWarper

    probs = torch.tensor([list(ex.NEXT.values())])
    kept = TopPLogitsWarper(top_p=ex.TOP_P)(None, probs.log()).isfinite().sum().item()
    assert kept == ex._q3_solve()
