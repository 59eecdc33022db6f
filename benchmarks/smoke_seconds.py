"""Seconds each notebook takes in the smoke profile on this machine, kernel start included.

Goal: notebook 00 in at most 15 s and every notebook in at most 60 s on 2 cores.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from benchmarks.common import main, row
from course import syllabus as syl
from course.commands import run as runner

GOALS = {"00a-check-your-gpu": 15.0}
DEFAULT_GOAL = 60.0


def run(quick: bool = False, selectors: tuple[str, ...] = ("all",)) -> dict:
    """Run the selected notebooks once in smoke and report the slowest against its goal."""
    notebooks = syl.select(syl.load(), list(("0",) if quick else selectors))
    with tempfile.TemporaryDirectory() as out:
        summary = runner.run(notebooks, "smoke", Path(out))
    seconds = {r["notebook"]: r["seconds"] for r in summary["results"]}
    over = {k: v for k, v in seconds.items() if v > GOALS.get(k, DEFAULT_GOAL)}
    worst = max(seconds.values())
    return row("smoke seconds (slowest notebook)", worst, "s", "00 <= 15 s, others <= 60 s",
               not over and summary["passed"], per_notebook=seconds, over_goal=over)


if __name__ == "__main__":
    sys.exit(main(run))
