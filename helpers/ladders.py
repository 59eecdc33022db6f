"""The full profile fits the machine in front of it: each heavy notebook's settings as a ladder, largest first.

A *rung* is one setting of a notebook (a model, a batch, a sequence length, an image size) and what it needs: the
planner's total (``plan``, the arguments of ``helpers.planner.estimate``) or, where the planner does not reach, a
measured rule (``need_gib`` with ``rule`` saying where it was measured). A ladder runs from the largest rung (a 16-24
GB card) to the smallest, and may end with a CPU rung: a small real model that teaches the same lesson on a laptop
in a stated number of minutes (``minutes``, measured on a random-weight replica by ``measured_by``).

``pick(notebook, P, pin=RUNG)`` is what a notebook calls after its opening call, before it loads anything: it
measures the VRAM free now (``torch.cuda.mem_get_info``: what the browser, the desktop and other programs hold is
already gone), keeps ``MARGIN_GIB`` in hand, takes the largest rung that fits and says which in one line. A pinned
rung that does not fit stops with one clear line. ``python -m course plan --ladder NOTEBOOK --vram GiB`` and
``python -m course doctor`` answer with the same code (:func:`choose`).

Taught in week 6 (06b-where-the-memory-goes); used by 04a, 05a, 06a, 06b, 07a, 08a, 08b and the GPU extras.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from helpers.presets import GIB

MARGIN_GIB = 0.5  # kept free beyond a rung's need: the caching allocator's slack and small buffers


@dataclass(frozen=True)
class Rung:
    """One setting of a notebook and what it needs (see the module docstring)."""

    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    plan: dict[str, Any] | None = None  # helpers.planner.estimate(**plan): its total counts the CUDA context
    need_gib: float | None = None  # a measured rule where the planner does not reach (allocator peak + reserve)
    rule: str = ""  # where need_gib comes from
    device: str = "cuda"  # "cuda", or "cpu" for a CPU rung
    minutes: float | None = None  # a CPU rung's stated minutes on a 2-core CPU
    measured_by: str = ""  # the command that measured ``minutes``
    why: str = ""  # one line: who this rung is for

    @property
    def cpu(self) -> bool:
        """True for a rung that runs on the CPU."""
        return self.device == "cpu"

    def need(self) -> float:
        """GiB of free VRAM this rung needs beyond the CUDA context already made (0 for a CPU rung)."""
        if self.cpu:
            return 0.0
        if self.plan is not None:
            from helpers import planner

            est = planner.estimate(**self.plan)
            return (est.total - planner.CUDA_CONTEXT_BYTES) / GIB
        if self.need_gib is None:
            raise ValueError(f"rung {self.name}: give a planner `plan` or a measured `need_gib`")
        return float(self.need_gib)


def _llm(name: str, model: str, plan: dict, why: str, **settings: Any) -> Rung:
    return Rung(name, {"model": model, **settings}, plan=plan, why=why)


# The ladders. Planner figures are exact for what the planner models (tests/test_planner.py); measured rules say
# where they were measured. Keep each notebook's 12 GiB rung equal to its syllabus `plan` / defaults.
LADDERS: dict[str, tuple[Rung, ...]] = {
    "06a": (
        _llm("8b-4bit-40k", "unsloth/Llama-3.1-8B-Instruct",
             dict(model="llama-3.1-8b-instruct", method="inference", bits=4, batch=1, seq=40960),
             "16-24 GB: the KV-cache sweep to 40,960 tokens", context=40960),
        _llm("8b-4bit-20k", "unsloth/Llama-3.1-8B-Instruct",
             dict(model="llama-3.1-8b-instruct", method="inference", bits=4, batch=1, seq=20480),
             "12 GB: the sweep to 20,480 tokens", context=20480),
        _llm("8b-4bit-8k", "unsloth/Llama-3.1-8B-Instruct",
             dict(model="llama-3.1-8b-instruct", method="inference", bits=4, batch=1, seq=8192),
             "8-10 GB: the same 8B model, a shorter sweep", context=8192),
        _llm("3b-4bit-8k", "unsloth/Llama-3.2-3B-Instruct",
             dict(model="llama-3.2-3b", method="inference", bits=4, batch=1, seq=8192),
             "6 GB: a 3B model", context=8192),
    ),
    "07a": (
        _llm("mistral-7b-2x2048", "unsloth/mistral-7b-v0.3",
             dict(model="mistral-7b-v0.3", method="qlora", bits=4, batch=2, seq=2048, checkpointing=True,
                  lora_rank=16, optimizer="adamw8bit"),
             "16-24 GB: longer sequences", max_len=2048, batch=2),
        _llm("mistral-7b-2x1024", "unsloth/mistral-7b-v0.3",
             dict(model="mistral-7b-v0.3", method="qlora", bits=4, batch=2, seq=1024, checkpointing=True,
                  lora_rank=16, optimizer="adamw8bit"),
             "12 GB: the reference setting", max_len=1024, batch=2),
        _llm("mistral-7b-1x1024", "unsloth/mistral-7b-v0.3",
             dict(model="mistral-7b-v0.3", method="qlora", bits=4, batch=1, seq=1024, checkpointing=True,
                  lora_rank=16, optimizer="adamw8bit"),
             "10 GB: half the batch, twice the accumulation", max_len=1024, batch=1),
        _llm("mistral-7b-1x512", "unsloth/mistral-7b-v0.3",
             dict(model="mistral-7b-v0.3", method="qlora", bits=4, batch=1, seq=512, checkpointing=True,
                  lora_rank=16, optimizer="adamw8bit"),
             "8 GB: shorter sequences", max_len=512, batch=1),
    ),
}


def ladder(notebook: str) -> tuple[Rung, ...]:
    """The ladder of a notebook ("07a" or its full id), largest rung first."""
    key = notebook.split("-", 1)[0]
    if key not in LADDERS:
        raise KeyError(f"{notebook} has no ladder; notebooks with one: {', '.join(sorted(LADDERS))}")
    return LADDERS[key]


def choose(notebook: str, free_gib: float | None, pin: str | None = None,
           margin: float = MARGIN_GIB) -> tuple[Rung | None, str]:
    """The largest rung that fits ``free_gib`` of free VRAM with the margin (None or 0: no GPU), and why, in words.

    ``pin`` names a rung to take whatever fits: it is returned with a reason that says whether it fits. Returns
    (None, why) when nothing fits: no GPU rung fits and the ladder has no CPU rung.
    """
    rungs = ladder(notebook)
    gpu = bool(free_gib)
    if pin is not None:
        chosen = next((r for r in rungs if r.name == pin), None)
        if chosen is None:
            raise ValueError(f"{notebook} has no rung {pin!r}: choose one of {', '.join(r.name for r in rungs)}")
        if chosen.cpu:
            return chosen, f"rung {pin} (pinned): runs on the CPU"
        if gpu and chosen.need() <= free_gib - margin:
            return chosen, f"rung {pin} (pinned): needs {chosen.need():.2f} GiB of the {free_gib:.1f} GiB free"
        have = f"{free_gib:.1f} GiB free" if gpu else "no GPU"
        return None, (f"the pinned rung {pin} needs {chosen.need():.2f} GiB of free VRAM plus {margin:g} in hand; "
                      f"this machine has {have}")
    for rung in rungs:
        if not rung.cpu and gpu and rung.need() <= free_gib - margin:
            return rung, (f"rung {rung.name}: needs {rung.need():.2f} GiB, {free_gib:.1f} GiB free "
                          f"(keeping {margin:g} in hand); {rung.why}")
    cpu = next((r for r in rungs if r.cpu), None)
    if cpu is not None:
        where = f"only {free_gib:.1f} GiB of VRAM free" if gpu else "no GPU"
        took = f"{cpu.minutes:g} min on a 2-core CPU" if cpu.minutes else "on the CPU"
        return cpu, f"rung {cpu.name}: {where}, so the CPU rung ({took}); {cpu.why}"
    smallest = min((r for r in rungs if not r.cpu), key=Rung.need)
    have = f"{free_gib:.1f} GiB free" if gpu else "no GPU"
    return None, (f"no rung fits: the smallest ({smallest.name}) needs {smallest.need():.2f} GiB of free VRAM plus "
                  f"{margin:g} in hand; this machine has {have}")


def free_vram_gib() -> float | None:
    """GiB of VRAM free now on CUDA device 0 (after this process's CUDA context), or None without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return None
    free, _total = torch.cuda.mem_get_info(0)
    return free / GIB


def pick(notebook: str, profile: str, pin: str | None = None) -> Rung:
    """The notebook's call: the rung for this machine, said in one line; stops with one line if none fits.

    In the smoke profile the notebook runs its tiny models whatever the rung; the line still says which rung the
    full profile would take here.
    """
    from helpers.ready import CannotRunFull

    free = free_vram_gib()
    try:
        rung, why = choose(notebook, free, pin)
    except ValueError as err:
        raise CannotRunFull(str(err)) from None
    if profile == "smoke":
        print(f"smoke: tiny models; the full profile here would take {why}")
        return Rung("smoke", device="cpu")
    if rung is None:
        raise CannotRunFull(why + ". Set RUNG to a smaller one in the parameters cell, close the programs that hold "
                            "VRAM, or set PROFILE = \"smoke\".")
    print(why)
    return rung
