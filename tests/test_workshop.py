"""Workshop kit: the instructor's guide and its tracks, the troubleshooting page built from the doctor's own checks,
the licence table, the answer key, resetting a notebook, and a room's doctor reports in one table."""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from course import guide
from course import syllabus as syl
from course.commands import doctor, exercises, reset
from course.errors import CourseError
from helpers import diagnose
from helpers.machine import Facts

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_generated_docs_are_up_to_date():
    assert guide.main(["--check"]) == 0, "run `python -m course.guide` and commit docs/"


def test_every_check_of_the_doctor_is_on_the_troubleshooting_page_with_its_fix():
    assert {c.__name__ for c in diagnose.CHECKS} == set(guide.SCENARIOS), \
        "a new check in helpers/diagnose.py needs a made-up machine in course.guide.SCENARIOS"
    page = guide.troubleshooting_md()
    for name, (_title, facts) in guide.SCENARIOS.items():
        finding = next(c for c in diagnose.CHECKS if c.__name__ == name)(facts)
        assert finding is not None, f"{name} does not fire on its scenario"
        assert f"(`{finding.id}`" in page and finding.fix in page
    assert "disk-low" in page and "cut short" in page and "not in the local cache" in page and "/tmp" not in page


def test_tracks_fit_their_days_and_the_five_days_hold_every_course_week_once():
    course = syl.load()
    minutes = guide.teach_minutes(course)
    one_day = sum(minutes[guide._by_prefix(course, p).id][0] for p in guide.ONE_DAY)
    assert one_day <= guide.DAY_MINUTES
    days = guide.five_days(course, minutes)
    assert len(days) == 5
    assert [nb.id for day in days for nb in day] == [nb.id for nb in course.notebooks if not nb.is_extra]
    assert max(sum(minutes[nb.id][0] for nb in day) for day in days) <= guide.DAY_MINUTES + 30


def _syllabus(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "syllabus.toml"
    path.write_text(textwrap.dedent(f"""
        [course]
        title = "T"
        reference_gpu = "G"
        reference_vram_gb = 12
        [[notebooks]]
        id = "{syl.load().notebooks[0].id}"
        week = 0
        title = "Check"
        file = "{syl.load().notebooks[0].file}"
        objectives = ["o"]
        {extra}
        [notebooks.smoke]
        minutes = 0.5
        vram_gb = 0
        [notebooks.full]
        minutes = 3
        vram_gb = 1
    """))
    return path


def test_teach_minutes_is_optional_with_the_rule_as_its_default_and_must_be_positive(tmp_path):
    without = syl.load(_syllabus(tmp_path, ""))
    assert without.notebooks[0].teach_minutes is None
    minutes, source = guide.teach_minutes(without)[without.notebooks[0].id]
    assert source == "rule" and 20 <= minutes <= 120 and minutes % 5 == 0
    given = syl.load(_syllabus(tmp_path, "teach_minutes = 45"))
    assert guide.teach_minutes(given)[given.notebooks[0].id] == (45, "syllabus")
    for bad in ("teach_minutes = 0", 'teach_minutes = "an hour"'):
        with pytest.raises(CourseError, match="teach_minutes"):
            syl.load(_syllabus(tmp_path, bad))


def test_every_notebook_of_the_syllabus_has_teaching_minutes():
    course = syl.load()
    minutes = guide.teach_minutes(course)
    assert set(minutes) == {nb.id for nb in course.notebooks} and all(m > 0 for m, _ in minutes.values())


def test_the_licence_table_covers_every_download_and_the_licence_files_say_what_covers_what():
    page = guide.licences_md(syl.load())
    for spec in {d for nb in syl.load().notebooks for d in nb.downloads}:
        assert f"`{spec}`" in page
    assert "on a USB stick?" in page and "CC BY 4.0" in page
    licence = (ROOT / "LICENSE").read_text()
    assert "MIT License" in licence and "CC BY 4.0" in licence and "course/data/" not in licence
    assert "helpers/coursedata/titanic.csv" in licence and (ROOT / "helpers" / "coursedata" / "titanic.csv").is_file()


def test_the_answer_key_gives_each_exercise_its_reference_answer():
    from course.exercises import Entry, Exercise, week01

    entries = [Entry(week01.NOTEBOOK, "week01", n, v.kind, v.objective, v.question, v)
               for n, v in vars(week01).items() if isinstance(v, Exercise)]
    code = next(e for e in entries if e.kind == "code")
    value = next(e for e in entries if e.kind == "value")
    assert code.exercise.solve().__name__ in exercises.answer(code) and "def " in exercises.answer(code)
    assert exercises.answer(value).startswith(f"answer: {value.exercise.solve()!r}"[:20])


@pytest.mark.slow
def test_exercises_answers_prints_the_key_for_a_selection(cli_here):
    res = cli_here("exercises", "--answers", "00a")
    assert res.returncode == 0, res.stderr
    assert "=== 00a-check-your-gpu ===" in res.stdout and "answer:" in res.stdout and "def " in res.stdout
    data = json.loads(cli_here("exercises", "--answers", "00a", "--json").stdout)
    assert data["answers"] and all(a["answer"] for a in data["answers"])


def _git_checkout(tmp_path: Path) -> tuple[Path, syl.Notebook]:
    nb = syl.load().notebooks[0]
    repo = tmp_path / "repo"
    (repo / nb.file).parent.mkdir(parents=True)
    (repo / nb.file).write_bytes((ROOT / nb.file).read_bytes())
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    for step in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "course"]):
        subprocess.run(git + step, check=True, capture_output=True)
    return repo, nb


def test_reset_restores_the_committed_notebook_and_keeps_the_participants_version(tmp_path):
    repo, nb = _git_checkout(tmp_path)
    mine = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
    (repo / nb.file).write_bytes(mine)
    kept = reset.reset(nb, root=repo)
    assert kept.parent == repo / reset.KEEP and kept.name.startswith(nb.id) and kept.read_bytes() == mine
    assert (repo / nb.file).read_bytes() == (ROOT / nb.file).read_bytes()
    assert reset.reset(nb, root=repo) is None, "an unchanged notebook is left alone, with no copy"
    (repo / nb.file).unlink()  # deleted by mistake: restored, nothing to keep
    assert reset.reset(nb, keep_in=tmp_path / "elsewhere", root=repo) is None and (repo / nb.file).is_file()


def test_reset_outside_a_git_checkout_says_what_to_do(tmp_path):
    nb = syl.load().notebooks[0]
    with pytest.raises(CourseError, match="not a git checkout"):
        reset.reset(nb, root=tmp_path)


def _report(tmp_path: Path, name: str, **changes) -> Path:
    course = syl.load()
    data = {"kind": "dl12gb-doctor-report", "version": 2, "name": name, "time": "2026-12-08T09:00:00+0100",
            "course_version": "0.2.0", "findings": [],
            "machine": {"device": "cuda", "gpu_name": "NVIDIA GeForce RTX 4070 Ti", "vram_total_gib": 11.99,
                        "vram_free_gib": 11.2},
            "downloads": [{"download": "torchvision:MNIST", "complete": True}, {"download": "pyg:Cora", "complete": False}],
            "notebooks": [{"notebook": nb.id, "full_ok": True, "reason": "ready"} for nb in course.notebooks]}
    data.update(changes)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data))
    return path


def test_a_rooms_reports_become_one_table_and_bad_or_foreign_files_get_one_line_each(tmp_path, capsys):
    course = syl.load()
    laptop = [{"notebook": nb.id, "full_ok": not nb.needs, "reason": "needs a CUDA GPU" if nb.needs else "ready"}
              for nb in course.notebooks]
    files = [_report(tmp_path, "ada"), _report(tmp_path, "bo", machine={"device": "cpu"}, notebooks=laptop,
                                                findings=[{"id": "torch-cpu-only", "severity": "error"}])]
    (tmp_path / "notes.json").write_text('{"shopping": ["milk"]}')
    (tmp_path / "broken.json").write_text('{"machine": ')
    args = argparse.Namespace(syllabus=None, json=False, summarise=[str(p) for p in files],
                              csv=str(tmp_path / "room.csv"), html=str(tmp_path / "room.html"), name=None)
    assert doctor.main(args) == 0
    out = capsys.readouterr().out
    assert "ada" in out and "bo" in out and "RTX 4070 Ti" in out and "CPU only" in out and "1/2" in out
    gpu_only = next(nb for nb in course.notebooks if "cuda-only" in nb.needs).id.split("-")[0]
    assert f"{gpu_only:<8}  1 of 2; not on: bo" in out
    rows = list(csv.DictReader(open(tmp_path / "room.csv", encoding="utf-8")))
    assert [r["name"] for r in rows] == ["ada", "bo"] and rows[1]["to_fix"] == "torch-cpu-only"
    assert "<td class='no'" in (tmp_path / "room.html").read_text()
    args.summarise += [str(tmp_path / "notes.json"), str(tmp_path / "broken.json"), str(tmp_path / "gone.json")]
    assert doctor.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("error: ") for line in err)
    assert "notes.json: not a `python -m course doctor --json` report" in err[0]
    assert "broken.json: not JSON" in err[1] and "gone.json: report not found (no such file)" in err[2]


def test_doctor_json_names_the_machine_the_time_the_version_and_each_downloads_state(doctor_report):
    data = doctor_report
    assert data["kind"] == "dl12gb-doctor-report" and data["name"] == "ada" and data["time"][:2] == "20"
    assert data["course_version"] == doctor.course_version() != "unknown"
    loads = doctor.loads_here(syl.load(), Facts(device="cpu"))  # this machine has no GPU: the CPU rungs' models
    assert {d["download"] for d in data["downloads"]} == {d for specs in loads.values() for d in specs}
    assert "hf-model:HuggingFaceTB/SmolLM2-135M" in {d["download"] for d in data["downloads"]}
    assert next(v for v in data["notebooks"] if v["notebook"] == "07a-lora-and-qlora")["rung"] == "cpu-smollm2-135m"
    assert all({"cached", "complete", "bytes", "expected_bytes"} <= set(d) for d in data["downloads"])
