"""What keeps this machine's GPU from working, and the one command that fixes it.

Every check below is a pure function of ``helpers.machine.Facts`` (gathered once by
``machine.gather()``), so each diagnosis can be tested on any machine with made-up facts. ``findings(facts)`` runs them all; ``show()`` prints them.
``ready.require_full`` uses :func:`vram_problem` for its VRAM verdict. Which PyTorch build fits a
driver and a GPU is in ``helpers.cuda_builds``.

Taught in week 0 (00a-check-your-gpu); ``python -m course doctor`` runs the same checks.
"""

from __future__ import annotations

from dataclasses import dataclass

from helpers.cuda_builds import (
    DRIVER_SERIES,
    TORCH_CUDA_BUILDS,
    base_version,
    build_covers,
    build_for_driver,
    pip_line,
    version_tuple,
)
from helpers.machine import Facts
from helpers.presets import MARGIN_GIB

# Free VRAM a notebook keeps in hand beyond its own estimate: the course's one margin (helpers.presets.MARGIN_GIB).
VRAM_MARGIN_GIB = MARGIN_GIB
# Other programs holding this much VRAM are worth a line in the report.
VRAM_OTHERS_NOTE_GIB = 0.5


@dataclass
class Finding:
    """One problem (or note): what it is, why it matters, and the command or setting that fixes it."""

    id: str
    severity: str  # "error" (the GPU cannot be used), "warning" (something will not fit or fail), "info"
    message: str
    why: str
    fix: str


# ---- the checks: pure functions of Facts ------------------------------------------------------------

def check_driver(facts: Facts) -> Finding | None:
    """The driver supports an older CUDA than this PyTorch was built for."""
    have, need = version_tuple(facts.driver_cuda), version_tuple(facts.torch_cuda)
    if not facts.nvidia or have is None or need is None or have >= need:
        return None
    if have[0] == need[0] and facts.cuda_available:
        return None  # same major: CUDA's minor-version compatibility runs it
    series = DRIVER_SERIES.get(need[0], "newest")
    update = (f"update the NVIDIA driver to the {series} series or newer (Ubuntu: `sudo apt install "
              f"nvidia-driver-{series}`, then reboot; Windows: the NVIDIA App or nvidia.com/drivers)")
    build = build_for_driver(facts.driver_cuda, facts.capability)
    fix = update + (f", or install the PyTorch build for your driver: `{pip_line(facts, build)}`" if build else
                    f"; no PyTorch {base_version(facts.torch_version)} build runs this GPU on a CUDA {facts.driver_cuda} "
                    "driver")
    return Finding(
        "driver-too-old", "error",
        f"The NVIDIA driver {facts.driver_version} supports CUDA up to {facts.driver_cuda}; this PyTorch "
        f"({facts.torch_version}) is built for CUDA {facts.torch_cuda}.",
        f"PyTorch cannot use the {facts.gpu_name or 'GPU'}: torch.cuda.is_available() is False and every "
        "notebook would run on the CPU.", fix[0].upper() + fix[1:] + ".")


def check_cpu_only_torch(facts: Facts) -> Finding | None:
    """An NVIDIA GPU is present but PyTorch is a CPU-only build."""
    if not facts.nvidia or facts.torch_cuda is not None:
        return None
    build = build_for_driver(facts.driver_cuda, facts.capability) or TORCH_CUDA_BUILDS[1]
    where = " (pip's default on Windows)" if facts.system == "Windows" else ""
    return Finding(
        "torch-cpu-only", "error",
        f"This PyTorch ({facts.torch_version}) is a CPU-only build{where}, and this machine has an NVIDIA GPU"
        f"{f' ({facts.gpu_name})' if facts.gpu_name else ''}.",
        "A CPU-only build never uses the GPU: every GPU notebook would stop or crawl.",
        f"Install the CUDA build: `{pip_line(facts, build)}`.")


def check_cuda_unusable(facts: Facts) -> Finding | None:
    """NVIDIA GPU and a CUDA build, driver new enough, and still no CUDA: hidden, or another cause."""
    if (not facts.nvidia or facts.torch_cuda is None or facts.cuda_available
            or check_driver(facts) is not None):
        return None
    hidden = facts.env.get("CUDA_VISIBLE_DEVICES")
    if hidden is not None and hidden.strip() in ("", "-1"):
        return Finding("gpu-hidden", "error", f"CUDA_VISIBLE_DEVICES is set to {hidden!r}.",
                       "It hides every GPU from PyTorch.", "Unset it: `unset CUDA_VISIBLE_DEVICES`.")
    return Finding("cuda-unavailable", "error",
                   f"The driver sees the GPU, but PyTorch cannot use it: {facts.cuda_error or 'no reason given'}.",
                   "Every notebook would run on the CPU.",
                   "Run `nvidia-smi`; if it fails too, reinstall the NVIDIA driver and reboot.")


def check_arch(facts: Facts) -> Finding | None:
    """This PyTorch's CUDA build has no kernels for the GPU (a pre-Turing card on 13.x, Blackwell on 12.6)."""
    if not facts.nvidia or not facts.torch_cuda or build_covers(facts.torch_cuda, facts.capability):
        return None
    cap = ".".join(map(str, facts.capability))
    build = next((b for b in TORCH_CUDA_BUILDS if build_covers(b, facts.capability)), None)
    return Finding(
        "gpu-not-in-build", "error",
        f"PyTorch's CUDA {facts.torch_cuda} build has no kernels for the {facts.gpu_name or 'GPU'} "
        f"(compute capability {cap}).",
        "Every CUDA operation would fail with 'no kernel image is available for execution on the device'.",
        f"Install the CUDA {build} build, which covers it: `{pip_line(facts, build)}`." if build else
        "No PyTorch build of this version supports it: use Colab or another GPU.")


def check_vram_in_use(facts: Facts) -> Finding | None:
    """Other programs already hold VRAM that the notebooks will not get."""
    if facts.vram_total_gib is None or facts.vram_free_gib is None:
        return None
    used = facts.vram_total_gib - facts.vram_free_gib - facts.vram_reserved_gib
    if used < VRAM_OTHERS_NOTE_GIB:
        return None
    return Finding(
        "vram-in-use", "warning" if used >= 1.0 else "info",
        f"{used:.1f} of {facts.vram_total_gib:.1f} GiB of VRAM is already in use by other programs "
        f"({facts.vram_free_gib:.1f} GiB free): {holders(facts)}.",
        f"Notebooks get only the free part, less {VRAM_MARGIN_GIB:g} GiB for their own CUDA context; a "
        "notebook that fits the card can still stop with 'not enough free VRAM'.",
        "Close the browser tabs, the game or the other notebooks that use the GPU (`nvidia-smi` lists them), "
        "or turn off your browser's hardware acceleration.")


def holders(facts: Facts) -> str:
    """Who holds the VRAM, in words: the process list where NVML gives one."""
    if facts.processes is None:
        return "this system does not let NVML list the processes (Windows' Task Manager > Performance > GPU does)"
    if not facts.processes:
        return "no process listed (the display and the driver itself hold some)"
    parts = [f"{p.name} {p.gib:.1f} GiB" if p.gib is not None else p.name for p in facts.processes[:6]]
    return "held by " + ", ".join(parts)


def is_wsl(kernel: str) -> bool:
    """True for a WSL2 kernel string (e.g. "5.15.153.1-microsoft-standard-WSL2")."""
    return "microsoft" in kernel.lower()


def check_wsl(facts: Facts) -> Finding | None:
    """WSL2: the GPU is shared with Windows."""
    if facts.system != "Linux" or not is_wsl(facts.kernel):
        return None
    return Finding(
        "wsl2", "info", f"This is WSL2 (kernel {facts.kernel}): the GPU is shared with Windows.",
        "VRAM that Windows, its desktop and its apps reserve is not available inside WSL, and NVML cannot "
        "list those programs; pinned memory is limited too.",
        "Install only the Windows NVIDIA driver (no Linux driver inside WSL) and close GPU-heavy Windows apps "
        "before a big notebook; if bitsandbytes cannot find libcuda: "
        "`export LD_LIBRARY_PATH=/usr/lib/wsl/lib:$LD_LIBRARY_PATH`.")


def check_windows(facts: Facts) -> Finding | None:
    """Native Windows: the notes that matter there."""
    if facts.system != "Windows":
        return None
    return Finding(
        "windows", "info", "Native Windows: the course is tested on Linux; it runs here with these differences.",
        "PyPI's Windows torch wheel is CPU-only (the CUDA build comes from PyTorch's wheel index); "
        "bitsandbytes supports Windows from 0.43 (the course pins 0.50); RAPIDS cuDF (extra e5) has no "
        "native Windows build; torch.compile needs Triton, which has no official Windows wheel "
        "(the community `triton-windows` package fills in).",
        "For the smoothest path use WSL2 (README, 'Windows and WSL2'); on native Windows install PyTorch with "
        f"`{pip_line(facts, build_for_driver(facts.driver_cuda, facts.capability) or TORCH_CUDA_BUILDS[1])}`.")


def check_bitsandbytes(facts: Facts) -> Finding | None:
    """bitsandbytes' CUDA library does not run a 4-bit matmul on this GPU."""
    if not facts.bnb_tested or facts.bnb_error is None:
        return None
    pinned = facts.bnb_version or "0.50.2"
    fix = f"Reinstall it for this PyTorch: `python -m pip install --force-reinstall --no-deps bitsandbytes=={pinned}`"
    if "BNB_CUDA_VERSION" in facts.env:
        fix = f"Unset BNB_CUDA_VERSION (it is {facts.env['BNB_CUDA_VERSION']!r} and overrides the CUDA match)"
    elif is_wsl(facts.kernel):
        fix = "Let it find WSL's libcuda: `export LD_LIBRARY_PATH=/usr/lib/wsl/lib:$LD_LIBRARY_PATH`"
    return Finding(
        "bitsandbytes", "error", f"bitsandbytes {facts.bnb_version} cannot run a 4-bit matmul on this GPU "
        f"({facts.bnb_error}).",
        "Weeks 6 and 7 load 4-bit (QLoRA) models through it and would fail.",
        fix + "; then `python -m bitsandbytes` prints its own diagnosis.")


CHECKS = (check_driver, check_cpu_only_torch, check_cuda_unusable, check_arch, check_vram_in_use, check_bitsandbytes,
          check_wsl, check_windows)


def findings(facts: Facts) -> list[Finding]:
    """Every check's finding for these facts, errors first."""
    found = [f for f in (check(facts) for check in CHECKS) if f is not None]
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(found, key=lambda f: order.get(f.severity, 3))


def show(found: list[Finding]) -> None:
    """Print findings as 'what / why / fix' blocks (nothing at all when there are none)."""
    marks = {"error": "!!", "warning": "! ", "info": "i "}
    for f in found:
        print(f"{marks.get(f.severity, '  ')} [{f.id}] {f.message}\n   why: {f.why}\n   fix: {f.fix}")


def vram_problem(need_gb: float, facts: Facts, what: str = "this notebook",
                 margin: float = VRAM_MARGIN_GIB) -> str | None:
    """Why ``need_gb`` of VRAM is not to be had here (the card is too small, or others hold it), or None.

    ``margin``: free VRAM kept beyond ``need_gb`` (0 for a planner figure, which counts the CUDA context).
    """
    total, free = facts.vram_total_gib, facts.vram_free_gib
    if total is None:
        return None
    if total + 0.25 < need_gb:
        return (f"{what} needs about {need_gb:g} GB of VRAM; this GPU has {total:.1f} GiB "
                "(choose the smaller option in the parameters cell)")
    if free is not None and free - margin < need_gb:
        return (f"{what} needs about {need_gb:g} GB of VRAM; this GPU has {total:.1f} GiB but only {free:.1f} GiB "
                f"free now ({holders(facts)}). Close the browser tabs, the game or the other notebooks that use "
                "the GPU, then restart this kernel; or choose the smaller option in the parameters cell")
    return None
