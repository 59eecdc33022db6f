"""Week 6's exercises: references agree with the planner, checkers vary every argument, stubs are not answered yet.

Each checker's registered mistakes and other styles are run by tests/test_exercise_answers.py; these tests check
what that generic test cannot: the hidden cases themselves.
"""

from __future__ import annotations

import pytest
import torch

from course.exercises import week06 as ex
from helpers import llm


def _stub(*args, **kwargs):
    raise NotImplementedError


def test_the_reference_solutions_pass_and_untouched_stubs_are_not_answered_yet(capsys):
    assert ex.q5.check(ex.q5.solve()) and ex.q6.check(ex.q6.solve())
    assert not ex.q5.check(_stub) and not ex.q6.check(_stub)
    assert capsys.readouterr().out.count("not answered yet") == 2


def test_the_quant_config_cases_vary_bits_and_compute_dtype():
    cases = ex._q5_cases()
    assert {c.args[0] for c in cases} == {16, 8, 4}
    assert {c.args[1] for c in cases if c.args[0] == 4} == {torch.bfloat16, torch.float16, torch.float32}
    assert ex.quant_config(16, torch.bfloat16) is None


def test_the_kv_cache_reference_agrees_with_the_planner_on_every_hidden_case():
    for case in ex._q6_cases():
        assert ex.kv_cache_bytes(*case.args, **case.kwargs) == ex._planner_kv(*case.args, **case.kwargs)
    labels = " ".join(c.label for c in ex._q6_cases())
    assert "8 KV heads" in labels and "32 KV heads" in labels  # GQA and MHA


def test_every_kv_cache_mistake_gives_its_own_value_on_the_first_hidden_case():
    """So the feedback names the mistake made: heads divided the wrong way is not "the factor 2" (issue 22)."""
    first = ex._q6_cases()[0]
    right = ex._planner_kv(*first.args, **first.kwargs)
    values = [v for v in (wrong(*first.args, **first.kwargs) for wrong, _ in ex._q6_same.mistakes) if v != right]
    assert len(values) >= 5 and len(set(values)) == len(values)  # head_dim read wrongly only shows on a later case
    ok, why = ex.q6.verdict(ex._group_size)
    assert ok is False and "num_attention_heads // num_key_value_heads" in why and "factor 2" not in why


def test_the_roofline_question_uses_the_planners_bytes():
    assert ex.READ_GB == pytest.approx(llm.bytes_per_token("llama-3.2-3b", 4) / 1e9, abs=0.005)
