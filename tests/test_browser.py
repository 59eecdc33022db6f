"""The course's JupyterLab: a real browser runs notebook 00 in it, and only the token holder gets in.

The session fixture installs Debian's Chromium when it is missing and we are root (CI starts
from nothing and runs as root); anywhere else it skips and says how to install it. Jupyter's
config, data, runtime and workspace folders and IPython's folder live in a temporary directory,
so a run leaves nothing in the home directory, and autosave is off, so the notebook on disk
keeps no outputs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from course import syllabus as syl
from course.chromium import CHROMIUM, CHROMIUM_ARGS, chromium_path
from course.commands import lab

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / ".course-runs" / "artifacts"
NB00 = syl.load().notebooks[0]



def _install_chromium() -> str:
    """apt-get install Debian's Chromium (once, under a lock shared by pytest-xdist workers)."""
    import fcntl  # POSIX only, like apt-get

    lock_path = Path(tempfile.gettempdir()) / "dl12gb-chromium-install.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be installing it right now
        if chromium_path():
            return chromium_path()
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        steps = (["apt-get", "update", "-q"],
                 ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium", "fonts-dejavu-core"])
        for step in steps:
            res = subprocess.run(step, capture_output=True, text=True, env=env, timeout=600)
            if res.returncode != 0:
                pytest.fail(f"`{' '.join(step)}` failed (exit {res.returncode}):\n{res.stderr[-2000:]}")
    path = chromium_path()
    if not path:
        pytest.fail(f"apt-get installed chromium but there is no {CHROMIUM}")
    return path


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a Chromium for Playwright: installed with apt-get when missing and we are root, else skip."""
    path = chromium_path()
    if path:
        return path
    if shutil.which("apt-get") is None:
        pytest.skip(f"no Chromium at {CHROMIUM} and no apt-get here: install Chromium and set COURSE_CHROMIUM "
                    "to its path to run the browser tests")
    if os.geteuid() != 0:
        pytest.skip(f"no Chromium at {CHROMIUM}: run `sudo apt-get install -y chromium` (the tests install it "
                    "themselves only when they run as root, as CI does)")
    return _install_chromium()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _status(url: str, token: str | None = None) -> int:
    """HTTP status of a GET, with the token in the Authorization header when given."""
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def _user_settings(config_dir: Path) -> None:
    """JupyterLab settings for a test: every cell attached, no autosave (news: `course lab` turns it off)."""
    settings = {
        "notebook-extension/tracker": {"windowingMode": "none"},
        "docmanager-extension/plugin": {"autosave": False},
    }
    for name, values in settings.items():
        path = config_dir / "lab" / "user-settings" / "@jupyterlab" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@contextlib.contextmanager
def course_lab(tmp: Path) -> Iterator[tuple[str, str, subprocess.Popen]]:
    """`python -m course lab --no-browser` on a free port with a known token; yields (base URL, token, process)."""
    token, port = secrets.token_urlsafe(24), _free_port()
    dirs = {name: tmp / name.lower() for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
                                                  "JUPYTERLAB_WORKSPACES_DIR", "IPYTHONDIR")}
    for d in dirs.values():
        d.mkdir(parents=True)
    _user_settings(dirs["JUPYTER_CONFIG_DIR"])
    # JupyterLab checkpoints a notebook when it opens it: keep that copy out of the working tree.
    (dirs["JUPYTER_CONFIG_DIR"] / "jupyter_server_config.json").write_text(
        json.dumps({"FileCheckpoints": {"root_dir": str(tmp / "checkpoints")}}))
    env = {**os.environ, **{k: str(v) for k, v in dirs.items()}, "COURSE_LAB_TOKEN": token,
           "COURSE_PROFILE": "smoke", "HF_HUB_OFFLINE": "1"}
    env.pop("MPLBACKEND", None)  # let the kernel draw inline, as on a learner's machine
    log = open(tmp / "lab.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "course", "lab", "--no-browser", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while _status_or_none(f"{base}/api/status", token) != 200:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"`course lab` did not start:\n{(tmp / 'lab.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield base, token, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # course lab forwards it to JupyterLab
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the process group this test started
                proc.wait()
        log.close()


def _status_or_none(url: str, token: str) -> int | None:
    try:
        return _status(url, token)
    except OSError:
        return None


# True once every code cell shows an execution count, or as soon as a traceback appears.
_DONE_JS = """() => {
  const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
  const errors = [...document.querySelectorAll('.jp-OutputArea-output')]
    .some(o => o.textContent.includes('Traceback (most recent call last)'));
  return errors || (prompts.length > 0 && prompts.every(p => /^\\[\\d+\\]:$/.test(p.textContent.trim())));
}"""


def _run_all_cells(page) -> None:
    """Run > Run All Cells, once the kernel is idle (before that the menu item does nothing)."""
    page.wait_for_function("() => document.body.innerText.includes('| Idle')", timeout=60_000, polling=250)
    for _ in range(3):
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator("li[data-command='runmenu:run-all']").click()
        try:  # started: some prompt shows [*] or a number
            page.wait_for_function("() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
                                   ".some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))", timeout=10_000)
            return
        except Exception:  # noqa: BLE001 - try the menu again
            page.keyboard.press("Escape")
    raise AssertionError("Run > Run All Cells did not start the notebook")


@pytest.mark.browser
def test_lab_runs_notebook_00_in_chromium_and_refuses_api_calls_without_the_token(chromium, tmp_path):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    before = subprocess.run(["git", "status", "--porcelain", "--ignored", "--", NB00.path.parent], cwd=ROOT,
                            capture_output=True, text=True).stdout
    with course_lab(tmp_path) as (base, token, proc):
        # Security first: the API refuses anonymous calls and serves the token holder.
        assert _status(f"{base}/api/contents") in (401, 403)
        assert _status(f"{base}/api/kernels", token="wrong-token") in (401, 403)
        assert _status(f"{base}/api/contents", token=token) == 200
        lab_cmd = " ".join(" ".join(p.cmdline()) for p in psutil.Process(proc.pid).children(recursive=True))
        assert "--ip=127.0.0.1" in lab_cmd and "--port-retries=0" in lab_cmd

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{base}/lab/tree/{NB00.file}?token={token}")
                page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=60_000)
                _run_all_cells(page)
                try:
                    page.wait_for_function(_DONE_JS, timeout=90_000, polling=500)
                except Exception:
                    page.screenshot(path=str(ARTIFACTS / "jupyterlab-notebook-00-timeout.png"))
                    raise

                outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
                errors = [text for text in outputs if "Traceback (most recent call last)" in text]
                assert not errors, "notebook 00 raised in JupyterLab:\n" + "\n".join(errors)[:3000]
                gauge = page.locator(".jupyter-widgets.widget-hprogress").first
                gauge.wait_for(state="visible", timeout=10_000)
                bar_width = page.locator(".jupyter-widgets.widget-hprogress .progress-bar").first.evaluate(
                    "el => el.getBoundingClientRect().width")
                assert bar_width > 0, "the VRAM gauge rendered but shows nothing"
                assert page.locator(".jp-OutputArea-output img").count() >= 1, "the memory timeline plot is missing"
                toasts = page.locator(".jp-toast-container, .Toastify").all_inner_texts()
                assert not any("news" in t.lower() for t in toasts), f"JupyterLab asked about news: {toasts}"
                gauge.scroll_into_view_if_needed()
                shot = ARTIFACTS / "jupyterlab-notebook-00.png"
                page.screenshot(path=str(shot))
                assert shot.stat().st_size > 10_000
            finally:
                browser.close()
    after = subprocess.run(["git", "status", "--porcelain", "--ignored", "--", NB00.path.parent], cwd=ROOT,
                           capture_output=True, text=True).stdout
    assert after == before, "the browser run must leave the notebook folder as it was (no outputs, no checkpoints)"


def test_lab_refuses_a_port_in_use_in_one_line_instead_of_a_traceback(cli):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        res = cli("lab", "--no-browser", "--port", str(busy.getsockname()[1]), timeout=60)
    assert res.returncode == 2 and "is in use" in res.stderr and "--port" in res.stderr
    assert "Traceback" not in res.stderr


def test_lab_warning_says_who_could_reach_the_kernel_beyond_loopback():
    anywhere = lab.exposure_warning("0.0.0.0")
    assert "local network" in anywhere and "run code on this machine" in anywhere and "127.0.0.1" in anywhere
    assert "192.168.1.5" in lab.exposure_warning("192.168.1.5")
    assert [lab.url_host(ip) for ip in ("127.0.0.1", "0.0.0.0", "::", "::1", "10.0.0.2")] == \
        ["127.0.0.1", "127.0.0.1", "[::1]", "[::1]", "10.0.0.2"]
