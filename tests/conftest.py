"""Shared fixtures: the repo root, a CLI runner, and a private data folder per test session."""

from __future__ import annotations

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


@pytest.fixture
def cli():
    """The CLI runner as a fixture."""
    return run_cli
