"""Which PyTorch CUDA build runs on this driver and this GPU, and the pip command that installs it.

Pure tables and functions (no machine access): ``helpers.diagnose`` uses them to turn a driver or
architecture problem into one exact command. Taught in week 0 (00a-check-your-gpu), with ``diagnose``.
"""

from __future__ import annotations

from typing import Any

# The CUDA builds on PyTorch's own wheel index for the pinned torch 2.14 (an assumption to re-check on
# every torch upgrade): the Release Compatibility Matrix in pytorch/pytorch's RELEASE.md lists CUDA 12.6,
# 13.0 and 13.2 as stable for 2.14, and PyPI's Linux wheel is the 13.0 build (torch.version.cuda "13.0").
# Its "CUDA Support Matrix" gives the GPUs each build has kernels for: 12.6 covers Maxwell to Hopper
# (compute capability 5.0-9.0, so not Blackwell), 13.x covers Turing to Blackwell (7.5 and newer).
TORCH_CUDA_BUILDS = ("12.6", "13.0", "13.2")
WHEEL_INDEX = "https://download.pytorch.org/whl/cu{tag}"
# The oldest driver series for each CUDA major version: with CUDA's minor-version compatibility any
# driver of that series or newer runs every 12.x (or 13.x) build. Source: NVIDIA's CUDA Compatibility
# guide and CUDA Toolkit release notes, table 3 (12.x: >= 525.60.13 on Linux; 13.x: >= 580.65.06).
DRIVER_SERIES = {12: "525", 13: "580"}


def version_tuple(text: str | None) -> tuple[int, int] | None:
    """'13.0' -> (13, 0); None when it is not a version."""
    try:
        major, minor = (text or "").split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        return None


def base_version(version: str) -> str:
    """'2.14.1+cu130' -> '2.14.1'."""
    return version.split("+")[0]


def build_covers(build: str, capability: tuple[int, int] | None) -> bool:
    """True if PyTorch's CUDA ``build`` has kernels for a GPU of this compute capability (None: unknown, yes)."""
    if capability is None:
        return True
    return (5, 0) <= tuple(capability) < (10, 0) if build.startswith("12.") else tuple(capability) >= (7, 5)


def build_for_driver(driver_cuda: str | None, capability: tuple[int, int] | None = None) -> str | None:
    """The newest PyTorch CUDA build that a driver at this CUDA level runs on this GPU, or None."""
    builds = [b for b in TORCH_CUDA_BUILDS if build_covers(b, capability)]
    level = version_tuple(driver_cuda)
    if level is None:
        return TORCH_CUDA_BUILDS[1] if TORCH_CUDA_BUILDS[1] in builds else (builds or [None])[0]
    older = [b for b in builds if version_tuple(b) <= level]
    if older:
        return older[-1]
    same_major = [b for b in builds if version_tuple(b)[0] == level[0]]
    return same_major[0] if same_major else None  # minor-version compatibility: 12.6 runs on a 12.2 driver


def pip_line(facts: Any, build: str) -> str:
    """The exact pip command that installs this torch (and torchvision) built for this CUDA.

    ``facts``: anything with ``torch_version`` and ``torchvision_version`` (``machine.Facts``).
    """
    tag = build.replace(".", "")
    pkgs = [f"torch=={base_version(facts.torch_version)}+cu{tag}"]
    if facts.torchvision_version:
        pkgs.append(f"torchvision=={base_version(facts.torchvision_version)}+cu{tag}")
    return f"python -m pip install {' '.join(pkgs)} --index-url {WHEEL_INDEX.format(tag=tag)}"
