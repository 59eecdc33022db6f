"""The extras' value and choice exercises explain typical mistakes."""

from __future__ import annotations


def test_extras_exercises_explain_typical_mistakes(capsys):
    from course.exercises import extras_dataframes, extras_generative, extras_gnn, extras_rl

    cases = [
        (extras_rl.q1, 500, "undiscounted"),
        (extras_rl.q1, 100, "endless episode"),
        (extras_rl.q2, "PPO", "on-policy"),
        (extras_rl.q3, 30, "copies"),
        (extras_rl.q4, "cpu", "CNN"),
        (extras_gnn.q1, 2.0, "self-loop"),
        (extras_gnn.q2, 1 / 2**0.5, "without the self-loops"),
        (extras_gnn.q3, 6, "node 10 itself"),
        (extras_gnn.q3, 5, "two layers"),
        (extras_gnn.q4, "grow", "wrong evidence"),
        (extras_generative.q1, 0.25, "square root"),
        (extras_generative.q2, (16, 1, 28, 28), "output"),
        (extras_generative.q3, 1, "equilibrium"),
        (extras_generative.q4, 4, "GAN"),
        (extras_generative.q4, 1000, "four batches"),
        (extras_dataframes.q1, 240e6 / 2**20, "MiB"),
        (extras_dataframes.q2, 0.0096, "seconds"),
        (extras_dataframes.q3, "small", "fixed cost"),
        (extras_dataframes.q4, "gpu", "falls back"),
    ]
    for ex, wrong, clue in cases:
        assert not ex.check(wrong)
        out = capsys.readouterr().out
        assert clue in out, f"{ex.name} ({wrong!r}): expected {clue!r} in {out!r}"
