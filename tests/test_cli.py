"""The command line: useful output, and one-line errors with exit code 2 for bad input."""

from __future__ import annotations

import json

import pytest

from course.commands import lab
from course.errors import CourseError


def test_list_prints_weeks_objectives_and_vram(cli):
    res = cli("list")
    assert res.returncode == 0
    assert "Week 0" in res.stdout and "00a-check-your-gpu" in res.stdout and "GB VRAM" in res.stdout


def test_list_json_has_every_notebook_with_both_profiles(cli):
    data = json.loads(cli("list", "--json").stdout)
    first = data["notebooks"][0]
    assert first["id"] == "00a-check-your-gpu" and first["smoke"]["minutes"] > 0 and "vram_gb" in first["full"]


@pytest.mark.slow
def test_doctor_on_a_cpu_machine_is_a_useful_report_with_exit_0(cli):
    res = cli("doctor")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "== This machine ==" in out and "torch" in out
    import torch

    if not torch.cuda.is_available():
        assert "No GPU" in out and "COURSE_PROFILE=smoke" in out and "Colab" in out


def test_doctor_json_reports_the_machine_environment_and_verdicts(doctor_report):
    data = doctor_report
    assert {"machine", "environment", "notebooks", "verdict"} <= set(data)
    assert {"device", "gpu_name", "vram_free_gib", "cpu_features", "bf16", "notes"} <= set(data["machine"])
    assert all({"notebook", "full_ok", "reason"} <= set(v) for v in data["notebooks"])


def test_a_broken_syllabus_is_named_in_one_line(cli, tmp_path):
    bad = tmp_path / "syllabus.toml"
    bad.write_text('[course]\ntitle = "x"\n')
    res = cli("--syllabus", str(bad), "list")
    assert res.returncode == 2 and str(bad) in res.stderr and "reference_gpu" in res.stderr


def test_lab_command_always_has_a_token_and_binds_loopback():
    cmd, env = lab.command(8888, "tok", "notebooks/x.ipynb")
    assert "--ip=127.0.0.1" in cmd and env["JUPYTER_TOKEN"] == "tok"
    assert not any("tok" in part for part in cmd), "the token stays off the command line (ps shows it)"
    with pytest.raises(CourseError):
        lab.command(8888, "", "notebooks/x.ipynb")


def test_lab_turns_off_the_jupyter_news_question_without_touching_the_learners_own_overrides(tmp_path):
    import json

    own = tmp_path / "settings" / "overrides.json"
    own.parent.mkdir(parents=True)
    own.write_text('{"x": 1}')
    written = lab.quiet_news(tmp_path)
    assert written == tmp_path / "settings" / "overrides.d" / "dl12gb.json"
    settings = json.loads(written.read_text())["@jupyterlab/apputils-extension:notification"]
    assert settings["fetchNews"] == "false" and settings["checkForUpdates"] is False
    assert own.read_text() == '{"x": 1}' and lab.quiet_news(tmp_path) == written


def test_lab_warns_when_listening_beyond_loopback(cli):
    res = cli("lab", "--ip", "0.0.0.0", "--port", "70000")
    assert res.returncode == 2  # the port is refused before anything starts
    res = cli("lab", "--ip", "0.0.0.0", "--notebook", "nope")
    assert res.returncode == 2 and "anyone who can reach this address" in res.stderr
