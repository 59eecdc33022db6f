"""Bad input across every CLI subcommand: one line that says what to do, exit code 2, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Broken inputs made once: bad TOML, a syllabus missing a field, a config missing a field, a run dir."""
    root = tmp_path_factory.mktemp("bad-input")
    (root / "bad.toml").write_text("[course\n")
    (root / "incomplete.toml").write_text('[course]\ntitle = "x"\nreference_gpu = "g"\n')
    (root / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 64}))
    (root / "not-json.json").write_text("{ nope")
    run = root / "run"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"profile": "smoke", "results": []}))
    return {"root": root, "run": run}


CASES = [
    # run
    (["run", "99"], "Unknown notebook or week"),
    (["run", "no-such-notebook"], "use a week"),
    (["run", "0", "--profile", "fast"], "Unknown profile 'fast'"),
    (["run", "0", "--repeat", "0"], "--repeat must be 1 or more"),
    (["run", "0", "--jobs", "0"], "--jobs must be 1 or more"),
    (["run", "0", "--timeout", "-3"], "--timeout must be a positive"),
    (["run", "0", "--out", "/proc/no-such-dir"], "Cannot write to output folder"),
    # syllabus: missing, unreadable (a folder), invalid TOML, a missing field
    (["--syllabus", "/no/such/syllabus.toml", "list"], "syllabus not found"),
    (["--syllabus", "{root}", "list"], "cannot read the syllabus"),
    (["--syllabus", "{root}/bad.toml", "doctor"], "not valid TOML"),
    (["--syllabus", "{root}/incomplete.toml", "list"], "missing field 'reference_vram_gb'"),
    # list / doctor
    (["list", "--bogus"], "unrecognized arguments"),
    (["doctor", "extra-arg"], "unrecognized arguments"),
    # lab
    (["lab", "--port", "70000"], "Port 70000 is not valid"),
    (["lab", "--notebook", "nope"], "No notebook 'nope'"),
    (["lab", "--port", "abc"], "invalid int value"),
    # plan
    (["plan", "no-such-model"], "or pass a path to a config.json"),
    (["plan", "llama-3-8b", "--bits", "5"], "bits must be one of 32, 16, 8, 4"),
    (["plan", "llama-3-8b", "--batch", "-1"], "batch must be a whole number >= 1"),
    (["plan", "llama-3-8b", "--seq", "0"], "seq must be a whole number >= 1"),
    (["plan", "llama-3-8b", "--method", "foo"], "method must be one of"),
    (["plan", "llama-3-8b", "--gpu", "gtx9999"], "Unknown GPU 'gtx9999'"),
    (["plan", "llama-3-8b", "--vram", "-2"], "--vram must be a card size in GiB"),
    (["plan", "{root}/config.json"], "no field"),
    (["plan", "{root}/not-json.json"], "not-json.json"),
    (["plan", "/no/such/config.json"], "no such file"),
    # doctor: a room's reports
    (["doctor", "--csv", "room.csv"], "--csv and --html go with --summarise"),
    (["doctor", "--summarise", "{root}/not-json.json"], "not-json.json: not JSON"),
    (["doctor", "--summarise", "{root}/config.json"], "config.json: not a `python -m course doctor --json` report"),
    (["doctor", "--summarise", "/no/such/report.json"], "/no/such/report.json: report not found (no such file)"),
    # fetch
    (["fetch", "99"], "Unknown notebook or week"),
    (["fetch", "bogus:thing"], "Unknown download 'bogus:thing'"),
    (["fetch", "7", "--dry-run", "--fast"], "unrecognized arguments"),
    # handouts
    (["handouts", "--from", "/no/such/run"], "No summary.json in /no/such/run"),
    (["handouts", "--from", "{run}", "--out", "/proc/no-such-dir"], "/proc/no-such-dir"),
    (["handouts", "--from", "{run}", "--only", "99"], "Unknown notebook or week '99'"),
    # exercises, reset
    (["exercises", "--answers", "99"], "Unknown notebook or week"),
    (["reset", "no-such-notebook"], "Unknown notebook or week"),
    (["reset", "all"], "give one notebook id"),
    (["reset"], "the following arguments are required: NOTEBOOK"),
    # the command itself
    (["frobnicate"], "invalid choice"),
]


@pytest.mark.parametrize("args, message", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_gets_one_line_and_exit_2(cli, files, args, message):
    args = [a.format(root=files["root"], run=files["run"]) for a in args]
    res = cli(*args, timeout=120)
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert "Traceback" not in res.stderr, res.stderr
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    assert message.format(root=files["root"]) in lines[0], lines[0]
