"""pytest settings for `pytest --nbval-lax notebooks/` (layer 2 of the tests).

When COURSE_NBVAL_METRICS names a folder, each notebook's kernel records its metrics there
(helpers.profiles.record writes to COURSE_METRICS_FILE), so the runner test can check that a
second run in a fresh kernel gives identical seeded metrics without a third execution.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Point the notebook's kernel (started in its file's setup) at its own metrics file."""
    target = os.environ.get("COURSE_NBVAL_METRICS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        os.environ["COURSE_METRICS_FILE"] = str(Path(target) / f"{Path(str(item.fspath)).stem}.json")
