"""Which device to compute on, and in which precision: the course's one rule for the 16-bit type.

``device()`` chooses cuda > mps > cpu. ``precision(device)`` decides, once for the whole course, what a
model computes in on that device: bf16 on GPUs that have it natively (compute capability 8.0 and newer),
fp16 with a GradScaler on older GPUs (a T4), fp16 on Apple GPUs, and fp32 on a CPU. Every notebook,
helper and benchmark asks it (a test checks that no other code picks a 16-bit type). ``sync(device)``
waits for queued GPU work, so a timer measures the work and not just its launch.

What the machine is (name, VRAM, driver, CPU features) lives in ``helpers.machine``; published peaks
in ``helpers.gpu_specs``; measured speed in ``helpers.speed``.

Taught in week 0 (00a-check-your-gpu); used again by every notebook that trains or loads a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def device(prefer: str | None = None) -> torch.device:
    """Return the best available device: cuda, then Apple's mps, then cpu (or ``prefer``)."""
    if prefer:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def native_bf16(capability: tuple[int, int] | None = None) -> bool:
    """True if the GPU computes in bf16 natively (compute capability 8.0 or newer: Ampere, Ada, Hopper, ...).

    Not ``torch.cuda.is_bf16_supported()``: by default it also counts emulation, so a T4 (7.5) says yes
    and then runs bf16 slowly. With no argument, asks about CUDA device 0 (False without CUDA).
    """
    if capability is None:
        if not torch.cuda.is_available():
            return False
        capability = torch.cuda.get_device_capability(0)
    return tuple(capability) >= (8, 0)


@dataclass(frozen=True)
class Precision:
    """What a model computes in on one device (see :func:`precision`)."""

    compute: torch.dtype  # load weights and compute in this: bf16 or fp16 on a GPU, fp32 on a CPU
    half: torch.dtype  # this device's 16-bit type, for a 16-bit run asked for on purpose (a CPU: bf16)
    autocast: bool  # train with torch.autocast(device, dtype=compute); False on a CPU (fp32 throughout)
    scaler: bool  # fp16 gradients underflow: scale the loss with torch.amp.GradScaler
    why: str

    def __str__(self) -> str:
        name = str(self.compute).replace("torch.", "")
        return f"{name}{' with a GradScaler' if self.scaler else ''} ({self.why})"


def precision(dev: torch.device | str | None = None) -> Precision:
    """The course's one rule for the 16-bit type: bf16 where native, fp16 (+ GradScaler) on older GPUs, fp32 on CPU."""
    kind = torch.device(dev).type if dev is not None else device().type
    if kind == "cuda":
        major, minor = torch.cuda.get_device_capability(torch.device(dev) if dev is not None else None)
        if native_bf16((major, minor)):
            return Precision(torch.bfloat16, torch.bfloat16, True, False,
                             f"compute capability {major}.{minor}: native bf16, with fp32's range")
        return Precision(torch.float16, torch.float16, True, True,
                         f"compute capability {major}.{minor}: bf16 only emulated, so fp16, whose small "
                         "gradients underflow without loss scaling")
    if kind == "mps":
        return Precision(torch.float16, torch.float16, True, False, "Apple GPU: fp16")
    return Precision(torch.float32, torch.bfloat16, False, False,
                     "CPU: fp32 is the fast and exact choice for the small models a CPU runs")


def sync(dev: torch.device | str) -> None:
    """Wait for queued GPU work, so a timer measures the work and not just its launch."""
    kind = torch.device(dev).type
    if kind == "cuda":
        torch.cuda.synchronize()
    elif kind == "mps":
        torch.mps.synchronize()
