"""``python -m course progress``: which exercises this learner has solved, per notebook, and what to open next.

The verdicts come from every ``check()`` of an exercise on this machine (``course.progress``); nothing leaves the
machine. ``--json`` is what an instructor collects from a workshop; ``--reset`` forgets the selected notebooks.
"""

from __future__ import annotations

import argparse
import json

from course import progress
from course import syllabus as syl
from course.errors import CourseError
from course.exercises import catalogue


def main(args: argparse.Namespace) -> int:
    """Print the progress table (or JSON); with --reset, delete the progress of the selected notebooks."""
    course = syl.load(args.syllabus)
    chosen = syl.select(course, list(args.selectors or ["all"]))
    if args.reset:
        gone = 0
        for nb in chosen:
            path = progress.folder() / f"{nb.id}.json"
            if path.exists():
                try:
                    path.unlink()
                except OSError as err:
                    raise CourseError(f"cannot delete {path} ({err.strerror}); delete it by hand.") from None
                gone += 1
        print(f"forgot the progress of {gone} notebook(s) in {progress.folder()}")
        return 0
    names: dict[str, list[str]] = {}
    for entry in catalogue(course):
        names.setdefault(entry.notebook, []).append(entry.id)
    report = progress.summary(list(course.notebooks), names)
    wanted = {nb.id for nb in chosen}
    report["notebooks"] = [r for r in report["notebooks"] if r["notebook"] in wanted]
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for problem in report["problems"]:
        print(f"note: {problem}")
    width = max((len(r["notebook"]) for r in report["notebooks"]), default=8)
    print(f"{'notebook':<{width}}  solved  attempted  untouched")
    for r in report["notebooks"]:
        print(f"{r['notebook']:<{width}}  {r['solved']:>3}/{r['total']:<3} {r['attempted']:>9}  {r['untouched']:>9}")
    solved = sum(r["solved"] for r in report["notebooks"])
    total = sum(r["total"] for r in report["notebooks"])
    print(f"\n{solved} of {total} exercises solved; kept on this machine only, in {report['folder']}")
    if report["next"]:
        print(f"open next: {report['next']}")
    return 0
