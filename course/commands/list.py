"""``python -m course list``: the weeks and notebooks, from the syllabus."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from course import syllabus as syl


def as_dicts(course: syl.Syllabus) -> list[dict]:
    """Every notebook as a plain dict (for --json and the handouts)."""
    out = []
    for nb in course.notebooks:
        item = asdict(nb)
        for name in ("smoke", "full"):
            item[name]["metrics"] = {k: {"min": t.min, "max": t.max} for k, t in nb.profile(name).metrics.items()}
        out.append(item)
    return out


def main(args: argparse.Namespace) -> int:
    """Print the syllabus as text or JSON."""
    course = syl.load(args.syllabus)
    if args.json:
        print(json.dumps({"title": course.title, "reference_gpu": course.reference_gpu,
                          "notebooks": as_dicts(course)}, indent=2))
        return 0
    print(f"{course.title} (reference card: {course.reference_gpu})\n")
    for week in course.weeks():
        nbs = [nb for nb in course.notebooks if nb.week == week]
        print("Extras" if week == "extras" else f"Week {week}")
        for nb in nbs:
            print(f"  {nb.id}: {nb.title}")
            print(f"      smoke {nb.smoke.minutes:g} min, {nb.smoke.vram_gb:g} GB | "
                  f"full {nb.full.minutes:g} min, {nb.full.vram_gb:g} GB VRAM"
                  + (f" | needs {', '.join(nb.needs)}" if nb.needs else ""))
            for obj in nb.objectives:
                print(f"      - {obj}")
        print()
    return 0
