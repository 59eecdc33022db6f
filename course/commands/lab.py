"""``python -m course lab``: JupyterLab on the course, on 127.0.0.1, always with a token."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path

from course import syllabus as syl
from course.errors import CourseError

LOOPBACK = ("127.0.0.1", "localhost", "::1")
ANY = ("0.0.0.0", "::", "")


def exposure_warning(ip: str) -> str:
    """The warning printed when JupyterLab listens beyond this machine: who could reach the kernel."""
    who = ("every machine on your local network, and the internet if this machine has a public address"
           if ip in ANY else f"every machine that can route to {ip}")
    return (f"warning: listening on {ip!r}, not 127.0.0.1: anyone who can reach this address ({who}) "
            "and gets the token can run code on this machine as you, through the kernel; plain http sends "
            "the token unencrypted. Prefer the default (127.0.0.1) and an SSH tunnel: "
            "ssh -L 8888:127.0.0.1:8888 this-machine.")


def url_host(ip: str) -> str:
    """The host to put in the printed URL for a listening address."""
    if ip in ("127.0.0.1", "localhost", "0.0.0.0", ""):
        return "127.0.0.1"
    if ip == "::":
        return "[::1]"
    return f"[{ip}]" if ":" in ip else ip


def port_is_free(ip: str, port: int) -> bool:
    """True if nothing listens on ip:port yet (JupyterLab would otherwise fail with a long traceback)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((ip if ip not in ("localhost", "") else "127.0.0.1", port))
        except OSError:
            return False
    return True


NEWS_OFF = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}


def quiet_news(app_dir: Path | None = None) -> Path:
    """Turn off JupyterLab's "get notified about official Jupyter news?" question; return the file written.

    JupyterLab asks while its ``fetchNews`` setting is undecided. Packages set defaults with a file of their
    own in ``<app dir>/settings/overrides.d/`` (a learner's own ``overrides.json`` still wins).
    """
    if app_dir is None:
        from jupyterlab.commands import get_app_dir

        app_dir = Path(get_app_dir())
    target = app_dir / "settings" / "overrides.d" / "dl12gb.json"
    text = json.dumps(NEWS_OFF, indent=2) + "\n"
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return target


def command(port: int, token: str, start: str, ip: str = "127.0.0.1",
            open_browser: bool = True) -> tuple[list[str], dict[str, str]]:
    """The jupyter-lab command line and environment (token required; root folder = the repo).

    The token travels in the JUPYTER_TOKEN environment variable, not on the command line, where
    any local user could read it with `ps`.
    """
    if not token:
        raise CourseError("Refusing to start JupyterLab without a token.")
    cmd = [sys.executable, "-m", "jupyterlab", f"--ip={ip}", f"--port={port}", "--port-retries=0",
           f"--ServerApp.root_dir={syl.REPO_ROOT}",
           f"--LabApp.default_url=/lab/tree/{start}", f"--ServerApp.open_browser={open_browser}",
           # No request to a news feed or for updates (the pop-up itself: see quiet_news)
           "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd, {**os.environ, "JUPYTER_TOKEN": token}


def main(args: argparse.Namespace) -> int:
    """Start JupyterLab in the foreground and print the URL with its token."""
    if not 1 <= args.port <= 65535:
        raise CourseError(f"Port {args.port} is not valid: use 1-65535 (e.g. --port 8888).")
    if args.ip not in LOOPBACK:
        print(exposure_warning(args.ip), file=sys.stderr)
    course = syl.load(args.syllabus)
    start = course.by_id(args.notebook) if args.notebook else course.notebooks[0]
    if not port_is_free(args.ip, args.port):
        raise CourseError(f"Port {args.port} on {args.ip} is in use (another JupyterLab?): "
                          f"pass another one, e.g. --port {args.port + 1}.")
    token = os.environ.get("COURSE_LAB_TOKEN") or secrets.token_urlsafe(24)
    url = f"http://{url_host(args.ip)}:{args.port}/lab/tree/{start.file}?token={token}"
    print(f"Opening {course.title} in JupyterLab:\n  {url}\n(Ctrl+C to stop.)", flush=True)
    cmd, env = command(args.port, token, start.file, args.ip, not args.no_browser)
    try:
        quiet_news()
    except OSError as err:  # a read-only environment: the question pops up once, nothing worse
        print(f"note: could not turn off JupyterLab's news question ({err.strerror or err})", file=sys.stderr)
    proc = subprocess.Popen(cmd, env=env)

    def _stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)  # a `kill` of this command stops JupyterLab too
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        return 0
