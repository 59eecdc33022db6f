"""The kernels that execute notebooks for ``course run`` and the tests: private sockets, and warm starts.

**Private sockets.** On POSIX, :class:`IPCKernelManager` runs each kernel over Unix sockets (no "Kernel is
running over TCP without encryption" warning), in a folder of its own inside Jupyter's runtime folder, so
kernels started at once, in one notebook folder, can never pick the same socket names (jupyter_client's
default, ``kernel-ipc-N`` in the kernel's working folder, could, and two kernels then read each other's
messages: "Invalid Signature"). The folder goes when the kernel does.

**Warm starts.** A kernel of the course spends seconds importing PyTorch, transformers and the course's own
helpers before its first cell does anything. ``python -m course.kernels warm -- COMMAND`` starts one server
that imports them once, runs COMMAND, and stops the server. While it runs, each kernel of the ``dl12gb-runner``
kernelspec (:func:`kernel_dir`) is a fresh process *forked* from that server: a new kernel with a clean
namespace, its own environment and working folder, that finds the heavy modules already imported. Where
the server is absent, or the kernel's environment differs from the server's in a variable read at import
time (``HF_*``, ``TORCH*``, ``OMP_*``, ...), the kernel starts the ordinary way. Windows starts the ordinary way.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

KERNEL_NAME = "dl12gb-runner"
SERVER_VAR = "COURSE_WARM_KERNELS"  # the server's socket, set for the command that `warm` runs
# Imported once by the server. Not matplotlib.pyplot (it picks a backend from MPLBACKEND when imported), nor
# bitsandbytes or what imports it (peft, transformers.trainer): accelerate's notebook_launcher refuses to fork
# a kernel that has imported it, so a warm kernel must not have it either.
PRELOAD = ("numpy", "pandas", "scipy.stats", "sklearn.base", "sklearn.model_selection", "sklearn.ensemble",
           "sklearn.linear_model", "torch", "torchvision", "transformers", "transformers.modeling_utils",
           "accelerate", "datasets", "safetensors.torch", "ipywidgets",
           "IPython", "ipykernel.kernelapp", "helpers", "helpers.data", "helpers.train", "helpers.vram",
           "helpers.models", "helpers.llm", "helpers.plots", "course.exercises")
# Environment variables that libraries read when they are imported: a kernel whose value differs from the
# server's must import them itself.
IMPORT_TIME_PREFIXES = ("HF_", "HUGGINGFACE", "TRANSFORMERS", "TORCH", "PYTORCH", "CUDA", "OMP_", "MKL_",
                        "OPENBLAS", "TOKENIZERS", "DIFFUSERS", "BNB_", "XDG_CACHE_HOME", "PYTHONHASHSEED")


def kernel_dir() -> Path:
    """A folder with the ``dl12gb-runner`` kernelspec (this very Python): put it on JUPYTER_PATH."""
    root = Path(tempfile.gettempdir()) / f"dl12gb-kernels-{os.getuid() if hasattr(os, 'getuid') else 0}"
    spec = root / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "course.kernels", "launch", "-f", "{connection_file}"]
    if os.name != "posix":
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Python (course runner)",
                                                  "language": "python"}))
    return root


def kernel_manager_options() -> dict:
    """Keyword arguments for papermill/nbclient: Unix-socket kernels in private folders (POSIX), else {}."""
    if os.name != "posix":
        return {}
    return {"kernel_manager_class": ipc_kernel_manager()}


def ipc_kernel_manager() -> type:
    """An AsyncKernelManager whose kernels talk over Unix sockets kept in a folder of their own."""
    import shutil
    import uuid

    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.paths import jupyter_runtime_dir
    from traitlets import CaselessStrEnum, default

    class IPCKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

        @default("ip")
        def _private_ip(self) -> str:
            if self.transport != "ipc":
                return super()._ip_default()
            folder = Path(jupyter_runtime_dir()) / f"dl12gb-kernel-{uuid.uuid4().hex[:12]}"
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            return str(folder / "kernel")

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart)
            if self.transport == "ipc" and not restart:
                shutil.rmtree(Path(self.ip).parent, ignore_errors=True)

        cleanup_resources = _async_cleanup_resources

    return IPCKernelManager


# ---------------------------------------------------------------- warm starts: the launcher (kernel side)
def _send(sock: object, data: dict, fds: list[int] | None = None) -> None:
    import socket

    payload = json.dumps(data).encode()
    header = len(payload).to_bytes(8, "big")
    if fds:
        socket.send_fds(sock, [header + payload], fds)
    else:
        sock.sendall(header + payload)


def _receive(sock: object, with_fds: int = 0) -> tuple[dict | None, list[int]]:
    import socket

    fds: list[int] = []
    if with_fds:
        first, fds, _, _ = socket.recv_fds(sock, 8, with_fds)
    else:
        first = sock.recv(8)
    while first and len(first) < 8:
        more = sock.recv(8 - len(first))
        if not more:
            return None, fds
        first += more
    if not first:
        return None, fds
    size, data = int.from_bytes(first, "big"), b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None, fds
        data += chunk
    return json.loads(data), fds


def launch(argv: list[str]) -> int:
    """Start a kernel: forked from the warm server when one answers, else the ordinary way (``ipykernel``)."""
    address = os.environ.get(SERVER_VAR)
    if address and os.name == "posix":
        import signal
        import socket

        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(address)
            _send(sock, {"argv": argv, "env": dict(os.environ), "cwd": os.getcwd()}, [0, 1, 2])
            reply, _ = _receive(sock)
        except OSError:
            reply = None
        if reply and reply.get("pid"):
            pid = reply["pid"]
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
                signal.signal(signum, lambda s, _f: os.kill(pid, s))
            done, _ = _receive(sock)  # the kernel's exit status, when it ends
            return int(done.get("status", 1)) if done else 1
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *argv])
    return 1  # not reached


# ---------------------------------------------------------------- warm starts: the server
def _import_time_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(IMPORT_TIME_PREFIXES)}


def _run_kernel(argv: list[str], env: dict[str, str], cwd: str) -> None:
    """In the forked child: become the kernel that ``ipykernel_launcher ARGV`` would have started."""
    import importlib
    import signal

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.argv = ["ipykernel_launcher", *argv]
    if "matplotlib" in sys.modules and env.get("MPLBACKEND"):
        sys.modules["matplotlib"].rcParams["backend"] = env["MPLBACKEND"]
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.parent_handle = int(env.get("JPY_PARENT_PID") or 0)  # its default was read when the server imported it
    app.initialize(argv)
    for name in ("tqdm.autonotebook", "tqdm.auto"):  # chosen at import, outside a kernel: choose again inside
        if name in sys.modules:
            importlib.reload(sys.modules[name])
    app.start()


def serve(address: str, preload: tuple[str, ...] = PRELOAD) -> None:
    """Import ``preload`` once, then fork a kernel for each launcher that connects to ``address``."""
    import importlib
    import select
    import signal
    import socket

    base = _import_time_env(dict(os.environ))  # before the imports, some of which set variables of their own
    for name in preload:
        try:
            importlib.import_module(name)
        except Exception as err:  # noqa: BLE001 - a module that fails here is imported by the kernel instead
            print(f"warm kernels: not preloading {name} ({type(err).__name__}: {err})", file=sys.stderr)
    if "bitsandbytes" in sys.modules:
        print("warm kernels: a preloaded module imported bitsandbytes; e7's notebook_launcher will refuse to fork",
              file=sys.stderr)
    after = _import_time_env(dict(os.environ))  # what the imports set (e.g. TORCHINDUCTOR_CACHE_DIR)
    for key in set(after) - set(base):
        os.environ.pop(key, None)  # a forked kernel gets the environment of its launcher, not these
    os.environ.update(base)

    def same_imports(env: dict[str, str]) -> bool:
        """True if the launcher's environment gives the imports what the server's gave them."""
        theirs = _import_time_env(env)
        return all(theirs.get(k) in (base.get(k), after.get(k)) for k in set(theirs) | set(base) | set(after))

    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(address)
    server.listen(16)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    kernels: dict[socket.socket, int] = {}
    try:
        while True:
            readable, _, _ = select.select([server, *kernels], [], [], 0.2)
            for conn in readable:
                if conn is server:
                    client, _ = server.accept()
                    request, fds = _receive(client, with_fds=3)
                    if not request or len(fds) != 3 or not same_imports(request["env"]):
                        _send(client, {"pid": None})  # the launcher starts the kernel the ordinary way
                        for fd in fds:
                            os.close(fd)
                        client.close()
                        continue
                    pid = os.fork()
                    if pid == 0:  # the kernel
                        server.close()
                        for other in kernels:
                            other.close()
                        client.close()
                        for target, fd in enumerate(fds):
                            os.dup2(fd, target)
                            os.close(fd)
                        try:
                            _run_kernel(request["argv"], request["env"], request["cwd"])
                        finally:
                            os._exit(0)
                    for fd in fds:
                        os.close(fd)
                    _send(client, {"pid": pid})
                    kernels[client] = pid
                elif not conn.recv(1):  # the launcher is gone (killed): its kernel goes too
                    try:
                        os.kill(kernels[conn], signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            while kernels:  # report the kernels that ended
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                for conn, kernel in list(kernels.items()):
                    if kernel == pid:
                        try:
                            _send(conn, {"status": os.waitstatus_to_exitcode(status)})
                        except OSError:
                            pass
                        conn.close()
                        del kernels[conn]
    finally:
        for pid in kernels.values():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        server.close()


def warm(command: list[str]) -> int:
    """Run ``command`` with a warm kernel server (and the runner's kernelspec on JUPYTER_PATH); return its code."""
    import subprocess
    import time

    env = dict(os.environ)
    env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(kernel_dir()), env.get("JUPYTER_PATH")]))
    if os.name != "posix":
        return subprocess.call(command, env=env)
    with tempfile.TemporaryDirectory(prefix="dl12gb-warm-") as tmp:
        address = str(Path(tmp) / "server.sock")
        server = subprocess.Popen([sys.executable, "-m", "course.kernels", "serve", address], env=env)
        try:
            for _ in range(1200):  # the imports take a few seconds; kernels started before then start cold
                if os.path.exists(address) or server.poll() is not None:
                    break
                time.sleep(0.05)
            if server.poll() is None:
                env[SERVER_VAR] = address
            return subprocess.call(command, env=env)
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()


def main(argv: list[str]) -> int:
    """``launch -f FILE`` (a kernel), ``serve ADDRESS`` (the server), ``warm -- COMMAND`` (both, around a command)."""
    if argv[:1] == ["launch"]:
        return launch(argv[1:])
    if argv[:1] == ["serve"] and len(argv) == 2:
        serve(argv[1])
        return 0
    if argv[:1] == ["warm"]:
        command = argv[2:] if argv[1:2] == ["--"] else argv[1:]
        if command:
            return warm(command)
    sys.stderr.write("usage: python -m course.kernels warm -- COMMAND [ARGS ...]\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
