"""Every exercise: its reference solution passes its own check; no answer and wrong answers explain."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import course.exercises as exercises
from course.exercises import Exercise


def _all_exercises():
    for mod in pkgutil.iter_modules(exercises.__path__):
        module = importlib.import_module(f"course.exercises.{mod.name}")
        for name, value in vars(module).items():
            if isinstance(value, Exercise):
                yield pytest.param(value, id=f"{mod.name}.{name}")


ALL = list(_all_exercises())


@pytest.mark.parametrize("ex", ALL)
def test_no_answer_yet_is_reported_without_raising(ex, capsys):
    assert not ex.check(None)
    assert "not answered yet" in capsys.readouterr().out


@pytest.mark.parametrize("ex", ALL)
def test_hint_and_solution_print_something(ex, capsys):
    ex.hint()
    ex.solution()
    out = capsys.readouterr().out
    assert "hint" in out and "reference solution" in out


def test_week00_typical_mistakes_get_specific_feedback(capsys):
    from course.exercises import week00

    assert not week00.q1.check(8.03e9 * 4 / 2**30)
    assert "fp32" in capsys.readouterr().out
    assert not week00.q1.check(16.06)
    assert "GB (10^9 bytes)" in capsys.readouterr().out
    assert not week00.q2.check(6.87)
    assert "two operations" in capsys.readouterr().out
    assert not week00.q3.check("large")
    assert "sweep" in capsys.readouterr().out
    assert not week00.q1.check("fifteen")
    assert "expected a number" in capsys.readouterr().out


def _causal_mean(x):
    """Reference for the framework tests: the running mean over time of a 1-D tensor."""
    import torch

    return torch.cumsum(x, 0) / torch.arange(1, len(x) + 1)


def _framework_exercise():
    import torch

    from course.exercises import Case, same_as

    def cases():
        return [Case("a ramp 1..4", (torch.arange(1.0, 5.0),)), Case("one value", (torch.tensor([3.0]),))]

    def averaged_everything(x):
        return x.mean().expand_as(x)

    checker = same_as(_causal_mean, cases, mistakes=[(averaged_everything, "you averaged over future steps too.")])
    return Exercise("c1", "Write a running mean.", checker, "torch.cumsum", lambda: _causal_mean)


def test_a_code_exercise_runs_the_learners_function_on_hidden_cases(capsys):
    import torch

    ex = _framework_exercise()
    assert ex.kind == "code"

    def stub(x):
        raise NotImplementedError

    assert not ex.check(stub)
    assert "not answered yet" in capsys.readouterr().out
    assert ex.check(lambda x: torch.cumsum(x, 0) / torch.arange(1, len(x) + 1))
    assert "correct" in capsys.readouterr().out
    assert not ex.check(lambda x: x.mean().expand_as(x))
    assert "on a ramp 1..4: you averaged over future steps too." in capsys.readouterr().out
    assert not ex.check(lambda x: torch.cumsum(x, 0))
    out = capsys.readouterr().out
    assert "on a ramp 1..4: expected Tensor of shape (4,)" in out and "largest difference" in out
    assert not ex.check(lambda x: x[:2])
    assert "expected shape (4,), got shape (2,)" in capsys.readouterr().out
    assert not ex.check(lambda x: 1 / 0)
    assert "running your code raised ZeroDivisionError" in capsys.readouterr().out
    assert not ex.check(_causal_mean(torch.ones(2)))
    assert "without calling it" in capsys.readouterr().out
    ex.solution()
    assert "torch.cumsum(x, 0)" in capsys.readouterr().out


def test_comparisons_accept_any_librarys_integers_and_a_range_but_not_floats_for_indices():
    import numpy as np
    import torch

    from course.checking import differs

    assert differs(torch.tensor([1, 2]), np.array([1, 2])) is None
    assert "return a torch tensor" in differs(np.array([1, 2]), torch.tensor([1, 2]))  # cross_entropy needs one
    loss = (torch.ones(2, requires_grad=True) * 2).sum()
    assert differs(loss * 1, loss) is None and differs(loss.item(), loss) is None, "values only: mistakes match so"
    assert differs(range(2), [0, 1]) is None and differs([np.int64(0), torch.tensor(1)], [0, 1]) is None
    assert "expected a whole number (1), got 1.0 (float)" in differs([0, 1.0], [0, 1])
    assert differs(3.0, 3) is None, "a number on its own may be of any numeric type"


def test_a_code_checker_wants_a_graph_where_the_reference_has_one_and_the_callers_model_unfitted():
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression

    from course.checking import Case, same_as

    w = torch.ones(3, requires_grad=True)
    check = same_as(lambda x: (w * x).sum(), lambda: [Case("three ones", (torch.ones(3),))])
    assert check(lambda x: (w * x).sum()) is None
    assert "cut off from its graph" in check(lambda x: (w * x).sum().item())
    X, y = np.arange(8.0).reshape(4, 2), np.array([0, 1, 0, 1])
    score = same_as(lambda m, X, y: 0.5, lambda: [Case("four rows", (LogisticRegression(), X, y))])
    assert "fitted the model it was given" in score(lambda m, X, y: 0.5 + 0 * m.fit(X, y).score(X, y))


def test_a_choice_takes_the_option_as_written_and_its_other_names():
    from course.checking import choice

    check = choice("b", {"a": "not a"}, also=("gradient checkpointing",))
    assert all(check(answer) is None for answer in ("b", "(b)", "b)", " B. ", "'b'", "Gradient  Checkpointing"))
    assert check("(a)") == "not a" and "not one of the options" in check("c")


def test_of_two_mistakes_that_agree_on_the_failing_case_the_one_that_agrees_everywhere_is_named():
    from course.checking import Case, same_as

    check = same_as(lambda x: x * 3, lambda: [Case("two", (2,)), Case("five", (5,))],
                    mistakes=[(lambda x: 4 if x == 2 else 0, "the first"), (lambda x: x * 2, "doubled")])
    assert check(lambda x: x * 2) == "on two: doubled"


def test_a_function_that_remembers_earlier_calls_is_named():
    from course.checking import Case, same_as

    def unique(xs):
        return sorted(set(xs))

    def remembers(xs, seen=[]):  # noqa: B006 - the mistake under test
        seen.extend(x for x in xs if x not in seen)
        return sorted(seen)

    check = same_as(unique, lambda: [Case("three numbers", ([3, 1, 3],)), Case("others", ([2, 2],))])
    assert check(unique) is None
    assert "keeps something between calls" in check(lambda xs, _=[]: remembers(xs))


def test_an_exercise_cell_shows_its_verdict_once_and_no_stray_boolean(capsys):
    from IPython.core.formatters import DisplayFormatter

    from course.exercises import week00

    result = week00.q1.check(12.0)
    assert capsys.readouterr().out.count("q1: not yet") == 1
    # A kernel sends an execute_result only when the formatter returns data: here it returns none.
    # (A bare formatter: an InteractiveShell instance would make later tests think they run in a kernel.)
    data, metadata = DisplayFormatter().format(result)
    assert data == {} and not result


@pytest.mark.slow
def test_the_catalogue_lists_every_exercise_and_verifies_the_reference_solutions(cli_here):
    """Every reference passes its own check in tests/test_exercise_answers.py; here the CLI lists and verifies."""
    import json

    res = cli_here("exercises", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    verified = json.loads(cli_here("exercises", "0", "--json", "--verify").stdout)
    assert verified["verified"] and verified["failures"] == [] and verified["exercises"]
    assert {e["kind"] for e in data["exercises"]} <= {"value", "choice", "code"}
    assert len(data["exercises"]) == len(ALL)
    res = cli_here("exercises", "7")
    assert res.returncode == 0 and "07a-lora-and-qlora" in res.stdout
    res = cli_here("exercises", "nine")
    assert res.returncode == 2 and res.stderr.count("\n") == 1


def test_no_two_typical_mistakes_of_a_value_exercise_are_the_same_number():
    """A dict literal keeps the last of two equal keys silently: `near(mistakes={4 * 4 * 64 * 64: ..., 4 * 128 * 128:
    ...})` would lose an explanation. Every key is evaluated in its module and compared with the others."""
    import ast
    import math

    for mod in pkgutil.iter_modules(exercises.__path__):
        module = importlib.import_module(f"course.exercises.{mod.name}")
        tree = ast.parse(open(module.__file__, encoding="utf-8").read())
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and ast.unparse(node.func) == "near"):
                continue
            table = next((k.value for k in node.keywords if k.arg == "mistakes"), None)
            if not isinstance(table, ast.Dict):
                continue
            keys = [eval(compile(ast.Expression(body=k), module.__file__, "eval"), vars(module))  # noqa: S307
                    for k in table.keys if k is not None]
            for i, a in enumerate(keys):
                for b in keys[i + 1:]:
                    assert not (isinstance(a, int | float) and isinstance(b, int | float)
                                and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)), (
                        f"{mod.name}, line {table.lineno}: two mistakes are both {a}: one explanation is lost")
