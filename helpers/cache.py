"""Where the course keeps what it downloads and builds, and how it writes files without losing them.

``data_dir`` is ``COURSE_DATA_DIR`` or ``~/.cache/dl12gb``; ``build_once`` builds a folder once and
reuses it; ``atomic_write`` replaces a file in one step, so a crash never leaves half a file.

Taught in week 1 (01a-the-ml-workflow); used again in 02b, 05a, 07a, 08a, 08b, e7 (and through
``helpers.data`` from 03a on).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], binary: bool = False) -> Path:
    """Write ``path`` through ``write(file)`` into a temporary file beside it, then rename it into place.

    A reader sees the old file or the new one, never half of one: a crash (or a kill) while writing
    leaves the previous version intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as JSON to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda fh: json.dump(data, fh, indent=2, sort_keys=True))


def build_once(folder: str | os.PathLike, build: Any, version: int = 1) -> Path:
    """Build a folder once (``build(tmp_dir)`` writes its files) and reuse it while ``version`` matches.

    The files are written to a temporary folder beside it and renamed into place, so a folder that
    is half-written (a crash, two notebooks building at once) is never loaded; a folder built by an
    older version of the code is rebuilt.
    """
    import shutil

    folder = Path(folder)
    marker = folder / ".built.json"
    try:
        if json.loads(marker.read_text()).get("version") == version:
            return folder
    except (OSError, ValueError):
        pass  # missing, unreadable or from another version: build it
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    try:
        build(tmp)
        (tmp / ".built.json").write_text(json.dumps({"version": version}))
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        try:
            os.replace(tmp, folder)
        except OSError:  # another process built it first: theirs is as good as ours
            if not marker.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def data_dir(*parts: str) -> Path:
    """Where datasets, models and smoke stand-ins are cached: ``COURSE_DATA_DIR`` or ~/.cache/dl12gb."""
    root = Path(os.environ.get("COURSE_DATA_DIR") or Path.home() / ".cache" / "dl12gb").expanduser()
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
