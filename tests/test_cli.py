"""The command line: useful output, and one-line errors with exit code 2 for bad input."""

from __future__ import annotations

import json

import pytest

from course import lab
from course.errors import CourseError


def test_list_prints_weeks_objectives_and_vram(cli):
    res = cli("list")
    assert res.returncode == 0
    assert "Week 0" in res.stdout and "00a-check-your-gpu" in res.stdout and "GB VRAM" in res.stdout


def test_list_json_has_every_notebook_with_both_profiles(cli):
    data = json.loads(cli("list", "--json").stdout)
    first = data["notebooks"][0]
    assert first["id"] == "00a-check-your-gpu" and first["smoke"]["minutes"] > 0 and "vram_gb" in first["full"]


def test_doctor_on_a_cpu_machine_is_a_useful_report_with_exit_0(cli):
    res = cli("doctor")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "== This machine ==" in out and "torch" in out
    import torch

    if not torch.cuda.is_available():
        assert "No GPU" in out and "COURSE_PROFILE=smoke" in out and "Colab" in out


def test_doctor_json_reports_gpu_environment_and_verdicts(cli):
    data = json.loads(cli("doctor", "--json").stdout)
    assert {"gpu", "environment", "notebooks", "verdict"} <= set(data)
    assert all({"notebook", "full_ok", "reason"} <= set(v) for v in data["notebooks"])


BAD_INPUTS = [
    (["run", "99"], "Unknown notebook or week"),
    (["run", "no-such-notebook"], "use a week"),
    (["run", "0", "--profile", "fast"], "Unknown profile 'fast'"),
    (["run", "0", "--repeat", "0"], "--repeat must be 1 or more"),
    (["run", "0", "--timeout", "-3"], "--timeout must be a positive"),
    (["run", "0", "--out", "/proc/no-such-dir"], "Cannot write to output folder"),
    (["--syllabus", "/no/such/syllabus.toml", "list"], "syllabus not found"),
    (["lab", "--port", "70000"], "Port 70000 is not valid"),
    (["lab", "--notebook", "nope"], "No notebook 'nope'"),
    (["lab", "--port", "abc"], "invalid int value"),
    (["frobnicate"], "invalid choice"),
    (["list", "--bogus"], "unrecognized arguments"),
]


@pytest.mark.parametrize("args, message", BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_gets_one_line_and_exit_2(cli, args, message):
    res = cli(*args, timeout=60)
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    assert message in lines[0] and "Traceback" not in res.stderr


def test_a_broken_syllabus_is_named_in_one_line(cli, tmp_path):
    bad = tmp_path / "syllabus.toml"
    bad.write_text('[course]\ntitle = "x"\n')
    res = cli("--syllabus", str(bad), "list")
    assert res.returncode == 2 and str(bad) in res.stderr and "reference_gpu" in res.stderr


def test_lab_command_always_has_a_token_and_binds_loopback():
    cmd = lab.command(8888, "tok", "notebooks/x.ipynb")
    assert "--ip=127.0.0.1" in cmd and "--IdentityProvider.token=tok" in cmd
    with pytest.raises(CourseError):
        lab.command(8888, "", "notebooks/x.ipynb")


def test_lab_warns_when_listening_beyond_loopback(cli):
    res = cli("lab", "--ip", "0.0.0.0", "--port", "70000")
    assert res.returncode == 2  # the port is refused before anything starts
    res = cli("lab", "--ip", "0.0.0.0", "--notebook", "nope")
    assert res.returncode == 2 and "anyone who can reach this address" in res.stderr
