"""The extras' value and choice exercises explain typical mistakes."""

from __future__ import annotations


def test_extras_exercises_explain_typical_mistakes(capsys):
    from course.exercises import extras_dataframes

    cases = [
        (extras_dataframes.q1, 240e6 / 2**20, "MiB"),
        (extras_dataframes.q2, 0.0096, "seconds"),
        (extras_dataframes.q3, 250_000, "not free"),
        (extras_dataframes.q3, "large", "expected a number"),
        (extras_dataframes.q4, "nothing", "come back from GPU memory"),
        (extras_dataframes.q4, "recompiling", "stay compiled"),
    ]
    for ex, wrong, clue in cases:
        assert not ex.check(wrong)
        out = capsys.readouterr().out
        assert clue in out, f"{ex.name} ({wrong!r}): expected {clue!r} in {out!r}"
