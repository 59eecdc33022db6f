"""``python -m course exercises``: every exercise of the course (notebook, id, kind, objective), and
``--verify``, which runs each reference solution through its own check."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import pkgutil
from dataclasses import dataclass
from types import ModuleType

import course.exercises as exercises_pkg
from course import syllabus as syl
from course.errors import CourseError
from course.exercises import Exercise


@dataclass(frozen=True)
class Entry:
    """One exercise in the catalogue."""

    notebook: str
    module: str
    id: str
    kind: str
    objective: str
    question: str
    exercise: Exercise


def modules() -> list[ModuleType]:
    """Every exercise module (one per notebook; each names its notebook in ``NOTEBOOK``)."""
    found = []
    for info in pkgutil.iter_modules(exercises_pkg.__path__):
        module = importlib.import_module(f"course.exercises.{info.name}")
        if not isinstance(getattr(module, "NOTEBOOK", None), str):
            raise CourseError(f"course/exercises/{info.name}.py has no NOTEBOOK = \"<notebook id>\" line")
        found.append(module)
    return found


def catalogue(course: syl.Syllabus | None = None) -> list[Entry]:
    """All exercises, in course order then by id."""
    course = course or syl.load()
    order = {nb.id: i for i, nb in enumerate(course.notebooks)}
    entries = []
    for module in modules():
        if module.NOTEBOOK not in order:
            raise CourseError(f"{module.__name__}: NOTEBOOK {module.NOTEBOOK!r} is not in the syllabus")
        for name, value in vars(module).items():
            if isinstance(value, Exercise):
                entries.append(Entry(module.NOTEBOOK, module.__name__.rsplit(".", 1)[-1], name, value.kind,
                                     value.objective, value.question, value))
    return sorted(entries, key=lambda e: (order[e.notebook], e.id))


def verify(entries: list[Entry]) -> list[str]:
    """Run every reference solution through its own check; the failures, as lines."""
    failures = []
    for e in entries:
        with contextlib.redirect_stdout(io.StringIO()):
            ok, why = e.exercise.verdict(e.exercise.solve())
        if not ok:
            failures.append(f"{e.notebook} {e.id}: the reference solution fails its own check: {why}")
    return failures


def main(args: argparse.Namespace) -> int:
    """Print the catalogue (text or JSON); with --verify, exit 1 if a reference solution fails its check."""
    course = syl.load(args.syllabus)
    wanted = {nb.id for nb in syl.select(course, list(args.selectors or ["all"]))}
    entries = [e for e in catalogue(course) if e.notebook in wanted]
    failures = verify(entries) if args.verify else []
    if args.json:
        counts: dict[str, dict[str, int]] = {}
        for e in entries:
            counts.setdefault(e.notebook, {k: 0 for k in exercises_pkg.KINDS})[e.kind] += 1
        print(json.dumps({"exercises": [{"notebook": e.notebook, "module": e.module, "id": e.id, "kind": e.kind,
                                         "objective": e.objective, "question": e.question} for e in entries],
                          "counts": counts, "verified": args.verify, "failures": failures}, indent=2))
    else:
        width = max((len(e.notebook) for e in entries), default=8)
        for e in entries:
            print(f"{e.notebook:<{width}}  {e.id:<4} {e.kind:<6} {e.objective or '-'}")
        code = sum(e.kind == "code" for e in entries)
        print(f"\n{len(entries)} exercises in {len(wanted)} notebooks, {code} of them code exercises.")
        if args.verify:
            for line in failures:
                print(line)
            print("every reference solution passes its check" if not failures
                  else f"{len(failures)} reference solutions fail their check")
    return 1 if failures else 0
