"""Week 6b's exercises: the references pass, typical wrong implementations and answers get the message meant for them."""

from __future__ import annotations

import pytest

from course.exercises import week06b as ex
from course.syllabus import load


def test_every_reference_passes_and_every_objective_is_the_notebooks(capsys):
    objectives = set(load().by_id(ex.NOTEBOOK).objectives)
    for q in (ex.q1, ex.q2, ex.q3, ex.q4, ex.q5):
        assert q.check(q.solve()) and q.objective in objectives
    assert [q.kind for q in (ex.q1, ex.q5)] == ["code", "code"]


def test_untouched_stubs_are_not_answered_yet(capsys):
    def stub(*args):
        raise NotImplementedError  # your code here

    for q in (ex.q1, ex.q5):
        assert not q.check(stub)
    assert capsys.readouterr().out.count("not answered yet") == 2


def _block_forgetting_gqa(hidden, intermediate, heads, kv_heads, head_dim):
    return 4 * hidden * heads * head_dim + 3 * hidden * intermediate + 2 * hidden


def _block_gpt_mlp(hidden, intermediate, heads, kv_heads, head_dim):
    q, kv = heads * head_dim, kv_heads * head_dim
    return 2 * hidden * q + 2 * hidden * kv + 2 * hidden * intermediate + 2 * hidden


def _block_without_norms(hidden, intermediate, heads, kv_heads, head_dim):
    q, kv = heads * head_dim, kv_heads * head_dim
    return 2 * hidden * q + 2 * hidden * kv + 3 * hidden * intermediate


@pytest.mark.parametrize("wrong, words", [
    (_block_forgetting_gqa, "kv_heads x head_dim"), (_block_gpt_mlp, "three matrices"),
    (_block_without_norms, "RMSNorm"),
])
def test_block_count_names_the_typical_mistake(wrong, words):
    ok, why = ex.q1.verdict(wrong)
    assert ok is False and words in why


def _bytes_mixed_is_half(precision, optimizer):
    size = 4 if precision == "fp32" else 2
    return size * (2 + (2 if optimizer == "adamw" else 1))


def _bytes_forgot_gradient(precision, optimizer):
    size = 2 if precision == "pure_bf16" else 4
    return size * (1 + (2 if optimizer == "adamw" else 1))


def _bytes_adam_one_state(precision, optimizer):
    return (2 if precision == "pure_bf16" else 4) * 3


def _bytes_mixed_half_states(precision, optimizer):
    states = 2 if optimizer == "adamw" else 1
    return {"fp32": 4 * (2 + states), "pure_bf16": 2 * (2 + states), "mixed": 8 + 2 * states}[precision]


@pytest.mark.parametrize("wrong, words", [
    (_bytes_mixed_is_half, "not weight memory"), (_bytes_forgot_gradient, "gradient"),
    (_bytes_adam_one_state, "two states"), (_bytes_mixed_half_states, "states are fp32 too"),
])
def test_bytes_per_parameter_names_the_typical_mistake(wrong, words):
    ok, why = ex.q5.verdict(wrong)
    assert ok is False and words in why


@pytest.mark.parametrize("question", ["q2", "q3", "q4"])
def test_value_questions_reject_typical_wrong_answers(question):
    q = getattr(ex, question)
    for wrong in ex.TYPICAL_WRONG[question]:
        assert q.verdict(wrong)[0] is False


def test_no_question_repeats_06a():
    from course.exercises import week06

    asked = {getattr(week06, n).question for n in dir(week06) if n.startswith("q") and n[1:].isdigit()}
    assert not asked & {q.question for q in (ex.q1, ex.q2, ex.q3, ex.q4, ex.q5)}
    assert "KV cache" not in " ".join(q.question for q in (ex.q1, ex.q2, ex.q3, ex.q4, ex.q5))
