"""The one error type the CLI turns into a single line and exit code 2."""


class CourseError(Exception):
    """A problem the user can fix; its message says how. The CLI prints it and exits 2."""
