"""Shared fixtures: the repo root, a CLI runner, and a private data folder per test session."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep smoke stand-ins out of the learner's ~/.cache (unless a run already set a folder)."""
    if not os.environ.get("COURSE_DATA_DIR"):
        os.environ["COURSE_DATA_DIR"] = str(tmp_path_factory.mktemp("course-data"))
    # the tests' check() calls record progress of their own: never in the folder the notebooks' runs show
    os.environ["COURSE_PROGRESS_DIR"] = str(tmp_path_factory.mktemp("progress"))


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600,
            cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run ``python -m course ARGS`` and capture its output."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "course", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=cwd)


def run_cli_here(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``python -m course ARGS`` in this test process, which has already imported the libraries the command
    needs (a fresh interpreter pays seconds for torch): for commands whose process state the tests do not check."""
    from course.__main__ import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), contextlib.chdir(cwd):
        try:
            code = main(list(args))
        except SystemExit as stop:  # argparse's errors
            code = stop.code if isinstance(stop.code, int) else 1
    return subprocess.CompletedProcess(["course", *args], code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli():
    """The CLI runner as a fixture."""
    return run_cli


@pytest.fixture
def cli_here():
    """The in-process CLI runner as a fixture."""
    return run_cli_here


def once_per_run(tmp_path_factory: pytest.TempPathFactory, name: str, make):  # noqa: ANN001, ANN201 - JSON in, out
    """``make()`` once for the whole test run, in whichever test process asks first; the others wait for it and read
    its JSON result. (pytest-xdist's ``--dist loadgroup`` would keep such tests on one process, but it no longer
    groups anything under pytest 9.2, which ignores the node ids xdist rewrites: measured 2026-12-06.)"""
    import json

    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the folder every worker's own temporary folder sits in
    result = root / f"{name}.json"
    with FileLock(str(result) + ".lock"):
        if not result.is_file():
            result.write_text(json.dumps(make()))
        return json.loads(result.read_text())


@pytest.fixture(scope="session")
def doctor_report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`python -m course doctor --json --name ada`, run once for all the tests that read it."""
    import json

    def doctor() -> dict:
        res = run_cli("doctor", "--json", "--name", "ada", timeout=300)
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)

    return once_per_run(tmp_path_factory, "doctor-report", doctor)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """Notebooks 00a and 01a executed by `course run --profile smoke` into a *relative* --out folder, as
    `make handouts` does (inline plots): the runner's tests and the handouts' tests both read it."""
    def run() -> dict:
        where = tmp_path_factory.mktemp("smoke-run")
        env = {"COURSE_PROFILE": "smoke", "HF_HUB_OFFLINE": "1"}
        saved = os.environ.pop("MPLBACKEND", None)  # with Agg the kernel draws no inline plots
        try:
            res = run_cli("run", "00a", "01a", "--profile", "smoke", "--out", "relative-run", env=env, timeout=600,
                          cwd=where)
        finally:
            if saved is not None:
                os.environ["MPLBACKEND"] = saved
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
        return {"out": str(where / "relative-run"), "returncode": res.returncode, "stdout": res.stdout,
                "stderr": res.stderr}

    done = once_per_run(tmp_path_factory, "smoke-run", run)
    return Path(done["out"]), subprocess.CompletedProcess(["course", "run"], done["returncode"], done["stdout"],
                                                          done["stderr"])
