"""Week 5's code exercises: causal attention and next-token probabilities, written by the learner."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from course.exercises import week05 as ex


def test_reference_attention_matches_pytorchs_fused_kernel():
    q, k, v = torch.randn(3, 2, 4, 7, 16).unbind(0)
    torch.testing.assert_close(ex.causal_attention(q, k, v), F.scaled_dot_product_attention(q, k, v, is_causal=True))


def test_calling_pytorchs_own_attention_passes(capsys):
    assert ex.q5.check(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True))


def _mask(n):
    return torch.triu(torch.ones(n, n, dtype=torch.bool), 1)


@pytest.mark.parametrize("wrong, message", [
    (lambda q, k, v: torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), -1) @ v, "causal mask is missing"),
    (lambda q, k, v: torch.softmax((q @ k.transpose(-2, -1)).masked_fill(_mask(q.shape[-2]), -math.inf), -1) @ v,
     "not divided by sqrt(head size)"),
    (lambda q, k, v: torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), -1)
     .masked_fill(_mask(q.shape[-2]), 0.0) @ v, "masked after the softmax"),
    (lambda q, k, v: torch.softmax((q @ k.transpose(-2, -1) / q.shape[-1]).masked_fill(_mask(q.shape[-2]), -math.inf),
                                   -1) @ v, "divided the scores by the head size"),
])
def test_typical_attention_mistakes_get_their_own_explanation(wrong, message, capsys):
    assert not ex.q5.check(wrong)
    out = capsys.readouterr().out
    assert message in out and "on batch 2, 3 heads" in out


def test_attention_with_the_wrong_shape_says_which_shape_was_expected(capsys):
    assert not ex.q5.check(lambda q, k, v: (q @ k.transpose(-2, -1)))
    assert "expected shape (2, 3, 5, 8), got shape (2, 3, 5, 5)" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, message", [
    (lambda logits, temperature=1.0, top_k=None: torch.softmax(logits * temperature, -1), "divide the logits"),
    (lambda logits, temperature=1.0, top_k=None: ex._not_renormalised(logits, temperature, top_k), "no longer sum to 1"),
    (lambda logits, temperature=1.0, top_k=None: ex.next_token_probs(logits, 1.0, top_k), "has no effect"),
])
def test_typical_decoding_mistakes_get_their_own_explanation(wrong, message, capsys):
    assert not ex.q6.check(wrong)
    assert message in capsys.readouterr().out


def test_top_k_of_one_is_greedy():
    logits = torch.tensor([[0.1, 2.0, -1.0]])
    assert ex.next_token_probs(logits, temperature=3.0, top_k=1).tolist() == [[0.0, 1.0, 0.0]]
