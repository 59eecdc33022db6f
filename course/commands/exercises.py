"""``python -m course exercises``: every exercise of the course (notebook, id, kind, objective); ``--verify``,
which runs each reference solution through its own check; and ``--answers``, the key for instructors: each
exercise's question and reference answer (for a code exercise, the reference code)."""

from __future__ import annotations

import argparse
import contextlib
import inspect
import io
import json
import textwrap

import course.exercises as exercises_pkg
from course import syllabus as syl
from course.exercises import Entry, catalogue


def verify(entries: list[Entry]) -> list[str]:
    """Run every reference solution through its own check; the failures, as lines."""
    failures = []
    for e in entries:
        with contextlib.redirect_stdout(io.StringIO()):
            ok, why = e.exercise.verdict(e.exercise.solve())
        if not ok:
            failures.append(f"{e.notebook} {e.id}: the reference solution fails its own check: {why}")
    return failures


def answer(e: Entry) -> str:
    """The reference answer of one exercise: its value (and the code that computes it), or the reference code."""
    ex = e.exercise
    with contextlib.redirect_stdout(io.StringIO()):
        solved = ex.solve()
    if ex.kind == "code":
        shown = solved if inspect.isfunction(solved) or inspect.isclass(solved) else ex.solve
        return textwrap.dedent(inspect.getsource(shown)).rstrip()
    how = textwrap.dedent(inspect.getsource(ex.solve)).rstrip()
    shown = repr(solved)
    return f"answer: {shown if len(shown) < 600 else shown[:600] + ' ...'}\n{how}"


def show_answers(entries: list[Entry], as_json: bool) -> None:
    """Print the key: per notebook, each exercise's question and reference answer."""
    if as_json:
        print(json.dumps({"answers": [{"notebook": e.notebook, "id": e.id, "kind": e.kind, "question": e.question,
                                       "answer": answer(e)} for e in entries]}, indent=2))
        return
    print("The key, for instructors (the notebooks show the same with `ex.<id>.solution()`).")
    notebook = None
    for e in entries:
        if e.notebook != notebook:
            notebook = e.notebook
            print(f"\n=== {notebook} ===")
        print(f"\n{e.id} ({e.kind}): {e.question}\n" + textwrap.indent(answer(e), "    "))


def main(args: argparse.Namespace) -> int:
    """Print the catalogue (text or JSON); with --verify, exit 1 if a reference solution fails its check."""
    course = syl.load(args.syllabus)
    wanted = {nb.id for nb in syl.select(course, list(args.selectors or ["all"]))}
    entries = [e for e in catalogue(course) if e.notebook in wanted]
    if args.answers:
        show_answers(entries, args.json)
        return 0
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
