"""The kernels that execute notebooks: private sockets that cannot collide, and warm starts that stay fresh.

Kernels are started the way ``course run`` starts them (the ``dl12gb-runner`` kernelspec, the IPC kernel
manager) and asked who they are; each must answer its own question, and no socket file may appear in the
notebook folder they run in.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course import kernels, syllabus

EXTRAS = syllabus.REPO_ROOT / "notebooks" / "extras"
pytestmark = pytest.mark.skipif(os.name != "posix", reason="Unix-socket kernels and forking are POSIX only")


async def _ask(code: str, n: int, cwd: Path) -> list[str]:
    """Start ``n`` kernels at once in ``cwd``, run ``code`` in each (it may use KERNEL, the kernel's number)."""
    manager_class = kernels.ipc_kernel_manager()
    managers = [manager_class(kernel_name=kernels.KERNEL_NAME) for _ in range(n)]
    await asyncio.gather(*(km.start_kernel(cwd=str(cwd)) for km in managers))
    seen_during = sorted(p.name for p in cwd.iterdir() if p.name.startswith("kernel-"))
    answers = []
    try:
        clients = [km.client() for km in managers]
        for kc in clients:
            kc.start_channels()
        await asyncio.gather(*(kc.wait_for_ready(timeout=60) for kc in clients))
        for i, kc in enumerate(clients):
            reply = await kc.execute_interactive(f"KERNEL = {i}\n{code}", timeout=60,
                                                 output_hook=lambda msg: answers.append(msg["content"].get("text", ""))
                                                 if msg["msg_type"] == "stream" else None)
            assert reply["content"]["status"] == "ok", reply["content"]
        for kc in clients:
            kc.stop_channels()
    finally:
        await asyncio.gather(*(km.shutdown_kernel(now=True) for km in managers))
    folders = [Path(km.ip).parent for km in managers]
    assert not seen_during, f"socket files in the notebook folder: {seen_during}"
    assert not any(f.exists() for f in folders), "each kernel's private socket folder goes with it"
    return [a.strip() for a in answers]


def test_kernels_started_at_once_in_one_folder_each_answer_their_own_messages(monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", str(kernels.kernel_dir()))
    monkeypatch.delenv(kernels.SERVER_VAR, raising=False)
    answers = asyncio.run(_ask("import os; print(f'kernel {KERNEL} pid {os.getpid()}')", 3, EXTRAS))
    assert sorted(a.split(" pid ")[0] for a in answers) == ["kernel 0", "kernel 1", "kernel 2"]
    assert len({a.split(" pid ")[1] for a in answers}) == 3, "three processes"
    assert not [p for p in EXTRAS.iterdir() if p.name.startswith("kernel-ipc")]


@pytest.fixture
def warm_server(tmp_path, monkeypatch):
    """A warm-kernel server that preloads one small module, for this test only."""
    address = tmp_path / "server.sock"
    monkeypatch.setenv("JUPYTER_PATH", str(kernels.kernel_dir()))
    server = subprocess.Popen([sys.executable, "-c", "import sys; from course import kernels; "
                               "kernels.serve(sys.argv[1], preload=('ipykernel.kernelapp', 'colorsys'))", str(address)])
    for _ in range(400):
        if address.exists():
            break
        time.sleep(0.05)
    monkeypatch.setenv(kernels.SERVER_VAR, str(address))
    yield server
    server.terminate()
    server.wait(timeout=10)


@pytest.mark.slow
def test_a_warm_kernel_is_a_fresh_fork_of_the_server_with_its_own_environment_and_folder(warm_server, monkeypatch):
    monkeypatch.setenv("COURSE_KERNEL_PROBE", "mine")
    code = ("import os, sys; print(os.getppid(), 'colorsys' in sys.modules, os.environ.get('COURSE_KERNEL_PROBE'), "
            "os.getcwd(), sorted(k for k in globals() if not k.startswith('_')))")
    answers = asyncio.run(_ask(code, 2, EXTRAS))
    for answer in answers:
        ppid, preloaded, probe, cwd, names = answer.split(" ", 4)
        assert int(ppid) == warm_server.pid and preloaded == "True", "forked from the server, imports done"
        assert probe == "mine" and cwd == str(EXTRAS), "the launcher's environment and working folder"
        assert "colorsys" not in names, "a clean namespace: the server's imports are not the notebook's names"


@pytest.mark.slow
def test_a_kernel_whose_import_time_environment_differs_starts_the_ordinary_way(warm_server, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "another-hf-home"))  # read by huggingface_hub when imported
    (answer,) = asyncio.run(_ask("import os; print(os.getppid())", 1, EXTRAS))
    assert int(answer) != warm_server.pid
