"""``python -m course lab``: JupyterLab on the course, on 127.0.0.1, always with a token."""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys

from course import syllabus as syl
from course.errors import CourseError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def command(port: int, token: str, start: str, ip: str = "127.0.0.1", open_browser: bool = True) -> list[str]:
    """The jupyter-lab command line for the course (token required, root folder = the repo)."""
    if not token:
        raise CourseError("Refusing to start JupyterLab without a token.")
    cmd = [sys.executable, "-m", "jupyterlab", f"--ip={ip}", f"--port={port}", "--port-retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={syl.REPO_ROOT}",
           f"--LabApp.default_url=/lab/tree/{start}", f"--ServerApp.open_browser={open_browser}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd


def main(args: argparse.Namespace) -> int:
    """Start JupyterLab in the foreground and print the URL with its token."""
    if not 1 <= args.port <= 65535:
        raise CourseError(f"Port {args.port} is not valid: use 1-65535 (e.g. --port 8888).")
    if args.ip not in LOOPBACK:
        print(f"warning: listening on {args.ip}: anyone who can reach this address and learns the token "
              "can run code on this machine as you. Prefer 127.0.0.1 with an SSH tunnel.", file=sys.stderr)
    course = syl.load(args.syllabus)
    start = course.by_id(args.notebook) if args.notebook else course.notebooks[0]
    token = os.environ.get("COURSE_LAB_TOKEN") or secrets.token_urlsafe(24)
    host = "127.0.0.1" if args.ip in ("127.0.0.1", "localhost", "0.0.0.0") else args.ip
    url = f"http://{host}:{args.port}/lab/tree/{start.file}?token={token}"
    print(f"Opening {course.title} in JupyterLab:\n  {url}\n(Ctrl+C to stop.)", flush=True)
    proc = subprocess.Popen(command(args.port, token, start.file, args.ip, not args.no_browser))
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=10)
        return 0
