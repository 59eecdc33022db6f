"""``python -m course reset NOTEBOOK``: put a notebook back as the course ships it, keeping the participant's version.

For a participant who has edited a notebook into a state they cannot recover (a deleted cell, a broken
parameters cell, outputs too big to open), and for an instructor resetting machines between sessions. The
notebook's committed text comes from git (``git show HEAD:<path>``); the participant's version is first copied to
``my-copies/<id>-<date>-<time>.ipynb`` (or ``--keep-in DIR``), so nothing they wrote is lost. Outside a git
checkout (a copy without ``.git``, Colab) it says how to get the notebook again instead.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import time
from pathlib import Path

from course import syllabus as syl
from course.errors import CourseError

KEEP = "my-copies"


def committed(path: Path, root: Path) -> bytes:
    """The notebook's text at HEAD, read with git; CourseError with what to do when there is none."""
    if shutil.which("git") is None:
        raise CourseError("git is not installed, so the committed notebook cannot be read: install git, or download "
                          f"{path.relative_to(root)} again from the course's repository.")
    rel = path.relative_to(root).as_posix()
    try:
        res = subprocess.run(["git", "-C", str(root), "show", f"HEAD:{rel}"], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise CourseError(f"git could not read {rel} ({type(err).__name__}).") from None
    if res.returncode != 0:
        inside = subprocess.run(["git", "-C", str(root), "rev-parse", "--is-inside-work-tree"], capture_output=True)
        if inside.returncode != 0:
            raise CourseError(f"{root} is not a git checkout, so there is no committed copy to restore: download "
                              f"{rel} again from the course's repository (or reopen it from its Colab link).")
        raise CourseError(f"{rel} is not in the last commit (git: {res.stderr.decode(errors='replace').strip()}).")
    return res.stdout


def reset(nb: syl.Notebook, keep_in: Path | None = None, root: Path = syl.REPO_ROOT) -> Path | None:
    """Restore the notebook from HEAD; return where the participant's version was kept (None: it was unchanged)."""
    path = root / nb.file
    original = committed(path, root)
    if path.is_file() and path.read_bytes() == original:
        return None
    kept = None
    if path.is_file():
        folder = keep_in or root / KEEP
        folder.mkdir(parents=True, exist_ok=True)
        kept = folder / f"{nb.id}-{time.strftime('%Y%m%d-%H%M%S')}.ipynb"
        shutil.copy2(path, kept)
    tmp = path.with_name(f".{path.name}.reset")
    tmp.write_bytes(original)
    tmp.replace(path)
    return kept


def main(args: argparse.Namespace) -> int:
    """Reset one notebook and say where the participant's version went."""
    course = syl.load(args.syllabus)
    chosen = syl.select(course, [args.notebook])
    if len(chosen) != 1:
        raise CourseError(f"{args.notebook!r} names {len(chosen)} notebooks: give one notebook id (e.g. 03a), "
                          "not a week or 'all'.")
    nb = chosen[0]
    kept = reset(nb, Path(args.keep_in).expanduser() if args.keep_in else None)
    if kept is None:
        print(f"{nb.file} is already as committed: nothing to do.")
    else:
        print(f"{nb.file} is back as committed. Your version is kept in {kept}"
              " (open it in JupyterLab to copy anything back). If the notebook is open, close it without saving.")
    return 0
