"""Week 6b's exercises: references pass, hidden cases vary what a learner could hard-code, stubs are not answered yet.

Each checker's registered mistakes and other styles are run by tests/test_exercise_answers.py.
"""

from __future__ import annotations

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


def test_block_cases_include_attention_wider_than_the_hidden_size():
    """q and o sized hidden x hidden pass only where heads x head_dim equals hidden (issue 22)."""
    cases = [c.args for c in ex._block_cases()]
    assert any(heads * head_dim != hidden for hidden, _, heads, _, head_dim in cases)
    assert any(kv < heads for _, _, heads, kv, _ in cases) and any(kv == heads for _, _, heads, kv, _ in cases)
    ok, why = ex.q1.verdict(ex._block_square_q_o)
    assert ok is False and "heads x head_dim" in why


def test_the_autocast_rule_is_in_the_question_not_only_in_the_reference():
    assert "autocast makes" in ex.q5.question and "not here" in ex.q5.question
    assert {c.args for c in ex._bytes_cases()} == {(p, o) for p in ("fp32", "pure_bf16", "mixed")
                                                   for o in ("adamw", "sgd")}


def test_no_question_repeats_06a():
    from course.exercises import week06

    asked = {getattr(week06, n).question for n in dir(week06) if n.startswith("q") and n[1:].isdigit()}
    assert not asked & {q.question for q in (ex.q1, ex.q2, ex.q3, ex.q4, ex.q5)}
    assert "KV cache" not in " ".join(q.question for q in (ex.q1, ex.q2, ex.q3, ex.q4, ex.q5))
