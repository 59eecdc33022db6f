"""Progress: every check() remembers its verdict on this machine; `course progress` shows it; nothing is fatal."""

from __future__ import annotations

import json

import nbformat
import pytest

from course import kernels


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    folder = tmp_path / "course-data"
    monkeypatch.setenv("COURSE_DATA_DIR", str(folder))
    monkeypatch.delenv("COURSE_PROGRESS_DIR", raising=False)  # progress in the data folder, as on a learner's machine
    return folder


@pytest.mark.notebooks  # executes a notebook: it runs with the others, in a warm kernel
def test_solving_an_exercise_in_an_executed_notebook_shows_in_course_progress(data_dir, tmp_path, cli_here, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_PATH", str(kernels.kernel_dir()))
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from course.exercises import week00 as ex\nex.q1.check(ex.q1.solve())\n"
                                  "ex.q2.check(-1)"),
        nbformat.v4.new_code_cell("from course.exercises import show_progress\n\nshow_progress(ex.NOTEBOOK)"),
    ])
    NotebookClient(nb, kernel_name=kernels.KERNEL_NAME, timeout=120, **kernels.kernel_manager_options()).execute()
    shown = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert "00a-check-your-gpu: 1 of" in shown and "1 attempted" in shown and "next: 00a-check-your-gpu" in shown
    res = cli_here("progress", "0", "--json")
    assert res.returncode == 0, res.stderr
    (row,) = json.loads(res.stdout)["notebooks"]
    assert (row["solved"], row["attempted"]) == (1, 1) and row["untouched"] == row["total"] - 2
    text = cli_here("progress").stdout
    assert "00a-check-your-gpu" in text and "kept on this machine only" in text
    assert cli_here("progress", "0", "--reset").returncode == 0
    assert json.loads(cli_here("progress", "0", "--json").stdout)["notebooks"][0]["solved"] == 0


def test_a_solved_exercise_stays_solved_and_a_corrupt_file_is_named_not_fatal(data_dir, cli_here, capsys):
    from course import progress
    from course.exercises import week00 as ex

    assert ex.q1.check(ex.q1.solve())
    assert not ex.q1.check(-5)  # a later wrong answer is another attempt, not a loss
    seen = progress.read(ex.NOTEBOOK)
    assert seen["q1"]["status"] == "solved" and seen["q1"]["attempts"] == 2
    (data_dir / "progress" / f"{ex.NOTEBOOK}.json").write_text("{not json")
    capsys.readouterr()
    assert ex.q1.check(ex.q1.solve()), "the check still works"
    assert "progress not saved" in capsys.readouterr().out
    res = cli_here("progress", "0")
    assert res.returncode == 0 and "cannot be read" in res.stdout and "--reset" in res.stdout
