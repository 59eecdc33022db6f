"""The one error type the CLI turns into a single line and exit code 2."""

from __future__ import annotations

from pathlib import Path


class CourseError(Exception):
    """A problem the user can fix; its message says how. The CLI prints it and exits 2."""


def read_text(path: Path, what: str) -> str:
    """The text of a file the user named, or a CourseError that says what is wrong with it (``what``: the file's role)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CourseError(f"{path}: {what} not found (no such file)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CourseError(f"{path}: cannot read the {what} ({type(err).__name__}).") from None
