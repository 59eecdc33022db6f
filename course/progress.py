"""Which exercises this learner has solved: remembered on this machine only, never sent anywhere.

Every ``check()`` of an exercise records its verdict here (:func:`record`): one small JSON file per notebook in
the course's cache folder (``COURSE_DATA_DIR``, default ``~/.cache/dl12gb``), written atomically. A solved
exercise stays solved; a later wrong answer counts as another attempt. ``python -m course progress`` shows, per
notebook, how many exercises are solved, attempted and untouched, and which notebook to open next; ``--json``
is what an instructor collects from a workshop's machines. A missing file means "nothing yet"; a corrupt one is
named in one line and never stops a notebook.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

VERSION = 1


class ProgressError(Exception):
    """A progress file that cannot be read; the message names it and says how to start afresh."""


def folder() -> Path:
    """Where the progress files live: ``COURSE_PROGRESS_DIR``, else ``<course data folder>/progress``."""
    import os

    from helpers.cache import data_dir

    if os.environ.get("COURSE_PROGRESS_DIR"):
        path = Path(os.environ["COURSE_PROGRESS_DIR"]).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        return path
    return data_dir("progress")


def _notebook_of(exercise: Any) -> str | None:
    """The notebook id of an exercise: the ``NOTEBOOK`` of the course.exercises module that defines it."""
    for name, module in list(sys.modules.items()):
        if name.startswith("course.exercises.") and any(v is exercise for v in vars(module).values()):
            return getattr(module, "NOTEBOOK", None)
    return None


def read(notebook: str) -> dict[str, dict]:
    """The recorded verdicts of one notebook: ``{exercise: {"status", "attempts", "when"}}``; {} if none."""
    path = folder() / f"{notebook}.json"
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        if data.get("version") != VERSION or not isinstance(data.get("exercises"), dict):
            raise ValueError("unexpected layout")
        return data["exercises"]
    except (OSError, ValueError, AttributeError) as err:
        raise ProgressError(f"the progress file {path} cannot be read ({type(err).__name__}); "
                            f"delete it, or run `python -m course progress --reset`, to start it afresh") from None


def record(exercise: Any, correct: bool | None) -> None:
    """Remember one verdict (True solved, False wrong, None not answered); never raises, never stops a notebook."""
    if correct is None:
        return
    try:
        from helpers.cache import write_json_atomic

        notebook = _notebook_of(exercise)
        if notebook is None:
            return
        try:
            seen = read(notebook)
        except ProgressError as err:
            print(f"(progress not saved: {err})")
            return
        entry = seen.get(exercise.name, {"status": "attempted", "attempts": 0})
        entry["attempts"] = int(entry.get("attempts", 0)) + 1
        entry["status"] = "solved" if correct or entry.get("status") == "solved" else "attempted"
        entry["when"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        seen[exercise.name] = entry
        write_json_atomic(folder() / f"{notebook}.json", {"version": VERSION, "exercises": seen})
    except OSError:  # a read-only home folder: the check itself still works
        pass


def summary(notebooks: list[Any], exercises: dict[str, list[str]]) -> dict[str, Any]:
    """Per notebook: solved, attempted and untouched counts, and the notebook to open next (the first not done).

    ``exercises`` maps each notebook id to its exercise names (the catalogue's). Unreadable files are reported in
    ``problems``, never raised.
    """
    rows, problems = [], []
    for nb in notebooks:
        names = exercises.get(nb.id, [])
        try:
            seen = read(nb.id)
        except ProgressError as err:
            problems.append(str(err))
            seen = {}
        solved = sum(seen.get(n, {}).get("status") == "solved" for n in names)
        attempted = sum(seen.get(n, {}).get("status") == "attempted" for n in names)
        rows.append({"notebook": nb.id, "total": len(names), "solved": solved, "attempted": attempted,
                     "untouched": len(names) - solved - attempted})
    started = [r for r in rows if r["solved"] or r["attempted"]]
    pending = [r for r in rows if r["solved"] < r["total"]]
    if started:
        last = max(rows.index(r) for r in started)
        nxt = rows[last]["notebook"] if rows[last]["solved"] < rows[last]["total"] else next(
            (r["notebook"] for r in rows[last + 1:] if r["solved"] < r["total"]), None)
    else:
        nxt = pending[0]["notebook"] if pending else None
    return {"notebooks": rows, "next": nxt, "problems": problems, "folder": str(folder())}


def line(row: dict[str, Any]) -> str:
    """One notebook's progress in words."""
    return (f"{row['notebook']}: {row['solved']} of {row['total']} exercises solved, {row['attempted']} attempted, "
            f"{row['untouched']} untouched")
