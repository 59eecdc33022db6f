"""The full profile fits the machine in front of it: each heavy notebook's settings as a ladder, largest first.

A *rung* is one setting of a notebook (a model, a batch, a sequence length, an image size) and what it needs: the
planner's total (``plan``, the arguments of ``helpers.planner.estimate``) or, where the planner does not reach, a
measured rule (``need_gib`` with ``rule`` saying where it was measured). A ladder runs from the largest rung (a 16-24
GB card) to the smallest, and may end with a CPU rung: a small real model that teaches the same lesson on a laptop
in a stated number of minutes (``minutes``, measured on a random-weight replica by ``measured_by``).

``RUNG = pick(notebook, P, pin=RUNG_PIN)`` is what a notebook calls after its opening call, before it loads anything: it
measures the VRAM free now (``torch.cuda.mem_get_info``: what the browser, the desktop and other programs hold is
already gone), keeps ``MARGIN_GIB`` in hand, takes the largest rung that fits and says which in one line. A pinned
rung that does not fit stops with one clear line. ``python -m course plan --ladder NOTEBOOK --vram GiB`` and
``python -m course doctor`` answer with the same code (:func:`choose`).

Taught in week 6 (06b-where-the-memory-goes); used by 04a, 05a, 06a, 06b, 07a, 08a, 08b and the GPU extras.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from helpers.presets import GIB, MARGIN_GIB  # the course's one VRAM margin, kept free beyond a rung's need

# The reference machine: a 12 GB card beside a desktop, seen from a notebook's process after its CUDA context: 11.99
# GiB less about 0.5 of context and 1 held by the browser and compositor. A ladder's 12 GiB rung is the one it takes.
REFERENCE_FREE_GIB = 10.5


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



def _kv_sweep(name: str, context: int, why: str, preset: str = "llama-3.1-8b-instruct",
              model: str | None = None) -> Rung:
    """06a's rungs: a 4-bit model whose KV-cache sweep runs to ``context`` tokens (MODEL unless ``model`` is given)."""
    settings = {"context": context} | ({"model": model} if model else {})
    return Rung(name, settings, plan=dict(model=preset, method="inference", bits=4, batch=1, seq=context), why=why)


def _qlora(name: str, batch: int, max_len: int, why: str, preset: str = "mistral-7b-v0.3",
           model: str | None = None) -> Rung:
    """07a's rungs: QLoRA (4-bit base, rank 16, 8-bit AdamW, checkpointing), 16 examples a step whatever the batch."""
    settings = {"batch": batch, "max_len": max_len, "grad_accum": 16 // batch} | ({"model": model} if model else {})
    return Rung(name, settings, plan=dict(model=preset, method="qlora", bits=4, batch=batch, seq=max_len,
                                          checkpointing=True, lora_rank=16, optimizer="adamw8bit"), why=why)

# 08a's section 9 rows (helpers.diffusion.TECHNIQUES, in its order): fp32, then the 16-bit ones, the offloads last
EVERY_TECHNIQUE = ("fp32", "half", "half+no_sdpa", "half+attention_slicing", "half+vae_slicing", "half+vae_tiling",
                   "half+model_cpu_offload", "half+sequential_cpu_offload")

# The ladders. Planner figures are exact for what the planner models (tests/test_planner.py); measured rules say
# where they were measured. Keep each notebook's 12 GiB rung equal to its syllabus `plan` / defaults.
LADDERS: dict[str, tuple[Rung, ...]] = {
    "06a": (  # the KV-cache sweep of section 7 is the heaviest step; MODEL (the parameter) unless a rung names one
        _kv_sweep("8b-4bit-64k", 65536, "24 GB: the 8B model at 4-bit, the KV-cache sweep to 65,536 tokens"),
        _kv_sweep("8b-4bit-32k", 32768, "16 GB: the sweep to 32,768 tokens"),
        _kv_sweep("8b-4bit-16k", 16384, "12 GB beside a desktop (the reference card): the sweep to 16,384 tokens"),
        _kv_sweep("8b-4bit-8k", 8192, "10 GB: the same 8B model, a shorter sweep (8-bit does not fit, and says so)"),
        _kv_sweep("3b-4bit-16k", 16384, "8 GB: Llama-3.2-3B-Instruct (an ungated copy), the same lessons on a "
                  "smaller model", preset="llama-3.2-3b", model="unsloth/Llama-3.2-3B-Instruct"),
        _kv_sweep("3b-4bit-8k", 8192, "6 GB: Llama-3.2-3B-Instruct, a shorter sweep", preset="llama-3.2-3b",
                  model="unsloth/Llama-3.2-3B-Instruct"),
        Rung("cpu-smollm2-360m", {"model": "HuggingFaceTB/SmolLM2-360M-Instruct", "context": 4096},
             device="cpu", minutes=3, measured_by="python -m benchmarks.cpu_rungs 06a",
             why="SmolLM2-360M-Instruct (Apache 2.0) on the CPU: 8-bit and 4-bit NF4, chat, and the KV cache "
                 "measured in RAM to 4,096 tokens"),
    ),
    "06b": (  # the rehearsals of section 6, heaviest first: (preset, method, bits, batch, tokens); plan = the heaviest
        Rung("16-24gb", {"cases": (("llama-3.2-3b", "lora", 16, 1, 1024), ("llama-3.1-8b", "qlora", 4, 1, 1024),
                                   ("smollm2-360m", "full", 16, 4, 512), ("llama-3.2-1b", "inference", 16, 1, 16384))},
             plan=dict(model="llama-3.2-3b", method="lora", bits=16, batch=1, seq=1024),
             why="16-24 GB: LoRA on a 3B model in 16 bits, QLoRA on an 8B one"),
        Rung("12gb", {"cases": (("smollm2-360m", "full", 16, 2, 512), ("llama-3.2-1b", "lora", 16, 2, 512),
                                ("llama-3.2-3b", "qlora", 4, 1, 1024), ("llama-3.2-1b", "inference", 16, 1, 4096))},
             plan=dict(model="smollm2-360m", method="full", bits=16, batch=2, seq=512),
             why="12 GB beside a desktop (the reference card): a full fine-tune of a 360M model, LoRA on a 1B one"),
        Rung("8gb", {"cases": (("llama-3.2-1b", "lora", 16, 1, 512), ("llama-3.2-3b", "qlora", 4, 1, 512),
                               ("smollm2-135m", "full", 16, 2, 512), ("llama-3.2-1b", "inference", 16, 1, 4096))},
             plan=dict(model="llama-3.2-1b", method="lora", bits=16, batch=1, seq=512),
             why="8 GB: the same kinds of step on smaller models and batches"),
        Rung("6gb", {"cases": (("smollm2-135m", "full", 16, 2, 512), ("smollm2-360m", "qlora", 4, 1, 1024),
                               ("llama-3.2-1b", "inference", 16, 1, 2048))},
             plan=dict(model="smollm2-135m", method="full", bits=16, batch=2, seq=512),
             why="6 GB: 135M-360M models"),
    ),
    "07a": (  # QLoRA on BASE_MODEL (the parameter) unless a rung names a model; batch x grad_accum stays 16
        _qlora("mistral-7b-8x1024", 8, 1024, "24 GB: 8 sequences a pass, 2 passes a step (the same 16 examples a "
               "step, in fewer passes)"),
        _qlora("mistral-7b-4x1024", 4, 1024, "16 GB, or a 12 GB card with nothing else on it: 4 sequences a pass, "
               "4 passes a step"),
        _qlora("mistral-7b-2x1024", 2, 1024, "12 GB beside a desktop (the reference card): 2 sequences a pass, "
               "8 passes a step"),
        _qlora("mistral-7b-1x1024", 1, 1024, "10 GB: one sequence a pass, 16 passes a step"),
        _qlora("mistral-7b-1x512", 1, 512, "8 GB: 512-token sequences (longer examples are cut)"),
        _qlora("smollm2-1.7b-2x1024", 2, 1024, "6 GB: QLoRA on SmolLM2-1.7B (Apache 2.0), the same recipe on a "
               "smaller base", preset="smollm2-1.7b", model="HuggingFaceTB/SmolLM2-1.7B"),
        Rung("cpu-smollm2-135m", {"model": "HuggingFaceTB/SmolLM2-135M", "quant": None, "batch": 4, "max_len": 256,
                                  "grad_accum": 1, "steps": 30, "lr": 1e-3, "n_train": 120, "n_eval": 40,
                                  "new_tokens": 32, "trl_steps": 3, "checkpointing": False},
             device="cpu", minutes=9, measured_by="python -m benchmarks.cpu_rungs 07a",
             why="SmolLM2-135M (Apache 2.0) on the CPU: LoRA on its fp32 weights (no 4-bit base), 30 steps of 4 "
                 "examples cut at 256 tokens, then merged"),
    ),
    "e3": (  # the vision-language model of sections 2-6: MODEL (the parameter) unless a rung names one
        Rung("llava-1.5-7b-16bit", {"model": "llava-hf/llava-1.5-7b-hf"}, need_gib=13.9,
             rule="arithmetic, not yet measured: 7.06 B parameters x 2 bytes (13.15 GiB, the 14.1 GB download) + the "
                  "KV cache of a 650-token prompt (0.32 GiB) + section 4's logits (650 positions x 32,064 words x 2 "
                  "bytes, three alive: 0.12 GiB) + activations and allocator slack",
             why="16-24 GB: LLaVA-1.5-7B in 16 bits, the model of the papers (576 image tokens, better answers)"),
        Rung("interleave-0.5b-16bit", {}, need_gib=2.5,
             rule="arithmetic, not yet measured: 0.9 B parameters x 2 bytes (1.67 GiB, the 1.79 GB download) + "
                  "section 4's logits (760 positions x 152,000 words x 2 bytes = 0.22 GiB, three alive) + the KV "
                  "cache and activations of a 760-token prompt (under 0.1 GiB)",
             why="4-12 GB (the reference card has room to spare): LLaVA-Interleave-Qwen-0.5B in 16 bits"),
        Rung("cpu-interleave-0.5b", {"max_new_tokens": 32}, device="cpu", minutes=3,
             measured_by="python -m benchmarks.cpu_rungs e3",
             why="LLaVA-Interleave-Qwen-0.5B in fp32 on the CPU (about 3.5 GB of RAM), answers of 32 tokens"),
    ),
    "e6": (  # the served model: MODEL (the parameter) unless a rung names one; CONCURRENT prompts, MAX_TOKENS each
        Rung("8b-16bit", {"model": "unsloth/Llama-3.1-8B-Instruct", "concurrent": 4, "max_tokens": 256},
             plan=dict(model="llama-3.1-8b-instruct", method="inference", bits=16, batch=4, seq=320),
             why="24 GB: Llama-3.1-8B-Instruct in 16 bits (06a's download), four users at once"),
        Rung("1.7b-16bit", {"concurrent": 4, "max_tokens": 256},
             plan=dict(model="smollm2-1.7b", method="inference", bits=16, batch=4, seq=320),
             why="6-16 GB (the reference card): SmolLM2-1.7B-Instruct in 16 bits, four users at once"),
        Rung("1.7b-4bit", {"quant": "4bit", "concurrent": 4, "max_tokens": 256},
             plan=dict(model="smollm2-1.7b", method="inference", bits=4, batch=4, seq=320),
             why="under about 4.2 GiB free (a 4-6 GB card beside a desktop): the same model in 4-bit NF4"),
        Rung("cpu-smollm2-360m", {"model": "HuggingFaceTB/SmolLM2-360M-Instruct", "concurrent": 4, "max_tokens": 64},
             device="cpu", minutes=3, measured_by="python -m benchmarks.cpu_rungs e6",
             why="SmolLM2-360M-Instruct (Apache 2.0) in fp32 on the CPU: the same server, answers of 64 tokens"),
    ),
    # 08a and 08b: the planner models a diffusers pipeline's weights, not its activations, so each rung is a measured
    # rule, helpers.diffusion.need_gib / helpers.sd_lora.need_gib of its settings (tests/test_diffusion_ladders.py
    # checks the figures): the planner's weights + 1.5 x the activations of one image measured on a CPU with
    # random-weight replicas of SD 1.5 (fp32 at 512 px, scaled by pixels, batch and bits) + 0.3 GiB. The 1.5 and the
    # 0.3 are an allowance for the GPU's kernels and allocator, not a measurement: each figure is an estimate, and the
    # notebooks measure every step on the learner's GPU (08a's section 9 table, 08b's training peak).
    "08a": (  # size and batch of sections 2-9, MODEL (the parameter: SD 1.5) unless a rung names a model;
        # `techniques`: the rows of section 9's one-image table; `big`: its 2 x size table; `offload`: model offload
        Rung("sdxl-1024", {"model": "stabilityai/stable-diffusion-xl-base-1.0", "size": 1024, "batch": 2,
                           "techniques": EVERY_TECHNIQUE},
             need_gib=17.72, rule="estimate (helpers.diffusion.need_gib): the fp32 row, 12.92 GiB of SDXL weights "
                                  "(planner) + 1.5 x 3.0 GiB (the VAE decoding one 1,024 px image in fp32: 0.75 "
                                  "measured at 512 px, x 4 pixels) + 0.3",
             why="24 GB: SDXL base 1.0 at 1,024 px, every technique including fp32 (12.9 GiB of weights), a batch of 2"),
        Rung("sdxl-1024-16bit", {"model": "stabilityai/stable-diffusion-xl-base-1.0", "size": 1024, "batch": 1,
                                 "techniques": EVERY_TECHNIQUE[1:]},
             need_gib=12.92, rule="estimate (helpers.diffusion.need_gib): the no-SDPA row, 6.46 GiB of 16-bit SDXL "
                                  "weights (planner) + 0.16 (its VAE in fp32: diffusers upcasts it on fp16 GPUs) + "
                                  "1.5 x 4.0 GiB (the VAE at 1,024 px in fp32, and the full attention matrices of "
                                  "4,096 tokens) + 0.3",
             why="16 GB: SDXL base 1.0 at 1,024 px in 16 bits, one image at a time (fp32 SDXL needs 24 GB)"),
        Rung("sd15-512-batch8", {"size": 512, "batch": 8, "big": True,
                                 "techniques": EVERY_TECHNIQUE},
             need_gib=6.79, rule="estimate (helpers.diffusion.need_gib): the batch table's 16-bit row without VAE "
                                 "slicing, 1.99 GiB of 16-bit SD 1.5 weights (planner) + 1.5 x 3.0 GiB (8 images "
                                 "decoded at once, 0.375 each: 0.75 measured in fp32) + 0.3; the fp32 row needs 5.40",
             why="12 GB beside a desktop (the reference card): SD 1.5 at 512 px, every technique, a batch of 8, "
                 "and 1,024 px for tiling"),
        Rung("sdxl-1024-offload", {"model": "stabilityai/stable-diffusion-xl-base-1.0", "size": 1024, "batch": 1,
                                   "offload": True,
                                   "techniques": EVERY_TECHNIQUE[-2:]},
             need_gib=5.84, rule="estimate (helpers.diffusion.need_gib): model CPU offload, the UNet alone on the "
                                 "GPU, 4.78 GiB in 16 bits (planner) + 1.5 x 0.51 GiB (its pass with guidance at "
                                 "1,024 px: SD 1.5's 0.254 measured at 512 px, x 4 pixels, halved) + 0.3",
             why="an 8 GB card beside a desktop, or pinned on 12 GB: SDXL at 1,024 px with each model on the GPU "
                 "only while it runs (the rest in RAM: 16 GB of RAM)"),
        Rung("sd15-512", {"size": 512, "batch": 4, "big": True,
                          "techniques": EVERY_TECHNIQUE},
             need_gib=5.40, rule="estimate (helpers.diffusion.need_gib): the fp32 row, 3.97 GiB of SD 1.5 weights "
                                 "(planner) + 1.5 x 0.75 GiB (the VAE decoding one 512 px image in fp32, measured "
                                 "on a CPU replica) + 0.3",
             why="6-8 GB: SD 1.5 at 512 px, every technique, a batch of 4"),
        Rung("sd15-512-16bit", {"size": 512, "batch": 2, "big": True,
                                "techniques": EVERY_TECHNIQUE[1:]},
             need_gib=4.54, rule="estimate (helpers.diffusion.need_gib): the 1,024 px rows, 1.99 GiB of 16-bit SD "
                                 "1.5 weights (planner) + 1.5 x 1.5 GiB (the VAE at 1,024 px, 16-bit) + 0.3",
             why="4-6 GB: SD 1.5 at 512 px in 16 bits (no fp32 row), a batch of 2"),
        Rung("cpu-sd-turbo", {"model": "stabilityai/sd-turbo", "size": 512, "steps": 1, "guidance": 0.0, "batch": 2,
                              "techniques": (), "scales": (0.0, 2.0), "step_list": (1, 2, 4),
                              "schedulers": ("Euler", "Euler a", "DPM++ 2M"), "strengths": (0.3, 0.6, 0.9)},
             device="cpu", minutes=18, measured_by="python -m benchmarks.cpu_rungs 08a",
             why="sd-turbo (SD 2.1 distilled to one step; Stability AI Community License) in fp32 on the CPU: "
                 "512 px images in one step without guidance; section 9's GPU tables are skipped"),
    ),
    "08b": (  # LoRA training of section 5: image size, batch, gradient checkpointing; steps x batch = 1,200 images
        Rung("768px-batch4", {"size": 768, "batch": 4, "checkpointing": False, "steps": 300},
             need_gib=17.67, rule="estimate (helpers.sd_lora.need_gib): 2.01 GiB of 16-bit SD 1.5 weights and LoRA "
                                  "state + 1.5 x 10.2 GiB (4 images at 768 px: 1.52 GiB measured for one 512 px "
                                  "training step in fp32 on a CPU replica, x 0.75 under autocast) + 0.3",
             why="24 GB: 768 px training images, 4 a step, no gradient checkpointing"),
        Rung("512px-batch4", {"size": 512, "batch": 4, "checkpointing": False, "steps": 300},
             need_gib=9.13, rule="estimate (helpers.sd_lora.need_gib): 2.01 GiB of weights and LoRA state + 1.5 x "
                                 "4.55 GiB (4 images of 512 px, 1.52 GiB x 0.75 each) + 0.3",
             why="12-16 GB (the reference card beside a desktop): 4 images a step, no gradient checkpointing"),
        Rung("512px-batch2", {"size": 512, "batch": 2, "checkpointing": False, "steps": 600},
             need_gib=5.72, rule="estimate (helpers.sd_lora.need_gib): 2.01 GiB + 1.5 x 2.28 GiB (2 images) + 0.3",
             why="8 GB: 2 images a step, no gradient checkpointing"),
        Rung("512px-batch1", {"size": 512, "batch": 1, "checkpointing": False, "steps": 1200},
             need_gib=4.01, rule="estimate (helpers.sd_lora.need_gib): 2.01 GiB + 1.5 x 1.14 GiB (1 image) + 0.3",
             why="6 GB: one image a step, no gradient checkpointing"),
        Rung("512px-batch2-checkpointing", {"size": 512, "batch": 2, "checkpointing": True, "steps": 600},
             need_gib=3.19, rule="estimate (helpers.sd_lora.need_gib): 2.01 GiB + 1.5 x 0.59 GiB (2 images with "
                                 "gradient checkpointing: 0.39 GiB measured for one in fp32, x 0.75) + 0.3",
             why="4-6 GB: 2 images a step, activations recomputed in the backward pass (about 20 % slower)"),
        Rung("512px-batch1-checkpointing", {"size": 512, "batch": 1, "checkpointing": True, "steps": 1200},
             need_gib=2.87, rule="estimate (helpers.sd_lora.need_gib): 2.01 GiB + 1.5 x 0.375 GiB (generating an "
                                 "image, which now needs more than training: 0.29 GiB) + 0.3",
             why="4 GB: one image a step with gradient checkpointing (no CPU rung: training SD 1.5 on a CPU takes "
                 "hours)"),
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
        took = f"about {cpu.minutes:g} min of CPU time" if cpu.minutes else "on the CPU"
        return cpu, f"rung {cpu.name}: {where}, so the CPU rung ({took}); {cpu.why}"
    smallest = min((r for r in rungs if not r.cpu), key=Rung.need)
    have = f"{free_gib:.1f} GiB free" if gpu else "no GPU"
    return None, (f"no rung fits: the smallest ({smallest.name}) needs {smallest.need():.2f} GiB of free VRAM plus "
                  f"{margin:g} in hand; this machine has {have}")


def rung_downloads(rung: Rung | None, downloads: Sequence[str]) -> list[str]:
    """What a rung loads: the notebook's downloads (its syllabus entry, which is what its reference rung loads) with
    the rung's own model (``settings["model"]``) in place of the notebook's model, its first ``hf-model:`` download."""
    model = rung.settings.get("model") if rung is not None else None
    if not model:
        return list(downloads)
    at = next((i for i, d in enumerate(downloads) if d.startswith("hf-model:")), None)
    if at is None:  # the caller declared no model (a test of the ladder alone): nothing to put in its place
        return list(downloads)
    return [*downloads[:at], f"hf-model:{model}", *downloads[at + 1:]]


def downloads_for(notebook: str, downloads: Sequence[str], free_gib: float | None, all_rungs: bool = False) -> list[str]:
    """The downloads a notebook's full profile loads on a machine with ``free_gib`` of free VRAM (None or 0: no GPU):
    those of the rung it takes there, or with ``all_rungs`` those of every rung (a USB stick for a room), no repeats.
    A notebook without a ladder, or one whose rungs all need more than is free, loads its syllabus ``downloads``."""
    try:
        rungs = ladder(notebook)
    except KeyError:
        return list(downloads)
    chosen = rungs if all_rungs else [choose(notebook, free_gib)[0]]
    return list(dict.fromkeys(d for rung in chosen for d in rung_downloads(rung, downloads)))


def free_vram_gib() -> float | None:
    """GiB of VRAM free now on CUDA device 0 (after this process's CUDA context), or None without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return None
    free, _total = torch.cuda.mem_get_info(0)
    return free / GIB


def pick(notebook: str, profile: str, pin: str | None = None, downloads: Sequence[str] = ()) -> Rung:
    """The notebook's call: the rung for this machine, said in one line; stops with one line if none fits.

    ``downloads``: the notebook's syllabus downloads, written with its parameters (``f"hf-model:{MODEL}"``); in the
    full profile, what the chosen rung loads (:func:`rung_downloads`: a rung may name a smaller model) must be here
    complete or downloadable now (``helpers.ready.download_problem``), or the call stops naming it. In the smoke
    profile the notebook runs its tiny models whatever the rung; the line still says which rung the full profile would
    take here.
    """
    from helpers.ready import SMOKE_INSTEAD, CannotRunFull, download_problem

    free = free_vram_gib()
    try:
        rung, why = choose(notebook, free, pin)
    except ValueError as err:
        raise CannotRunFull(str(err)) from None
    if profile == "smoke":
        print(f"smoke: tiny models; the full profile here: {why}")
        return Rung("smoke", device="cpu")
    if rung is None:
        raise CannotRunFull(why + ". Pin a smaller rung (RUNG_PIN in the parameters cell), close the programs that "
                            "hold VRAM, or set PROFILE = \"smoke\".")
    print(why)
    problems = [p for p in map(download_problem, rung_downloads(rung, downloads)) if p]
    if problems:
        raise CannotRunFull(f"rung {rung.name}: " + "; ".join(p.rstrip(".") for p in problems) + ". " + SMOKE_INSTEAD)
    return rung
