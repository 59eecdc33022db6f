"""Exercises for week 8, "Stable Diffusion on 12 GB" (8a text to image, 8b teach it a style)."""

from __future__ import annotations

from typing import Any

from course.exercises import Exercise, near

NOTEBOOK = "08a-text-to-image"

GIB = 2**30
# Published parameter counts: SD 1.5 model card ("860M UNet", "123M text encoder"); the VAE's
# 83.65 M is counted from its config (helpers/presets/sd15-vae.json).
SD15_PARAMS = {"unet": 859.52e6, "text_encoder": 123.06e6, "vae": 83.65e6}


def _q1_solve() -> float:
    return sum(SD15_PARAMS.values()) * 2 / GIB  # fp16: 2 bytes per parameter


def _q1_check(answer: Any) -> str | None:
    problem = near(_q1_solve(), rel=0.03, unit="GiB")(answer)
    if problem and isinstance(answer, int | float) and not isinstance(answer, bool):
        total = sum(SD15_PARAMS.values())
        if abs(answer - total * 4 / GIB) < 0.15:
            return problem + " That is fp32 (4 bytes per parameter); fp16 uses 2."
        if abs(answer - total * 2 / 1e9) < 0.03:
            return problem + " That is in GB (10^9 bytes); divide by 2**30 for GiB."
        if abs(answer - SD15_PARAMS["unet"] * 2 / GIB) < 0.05:
            return problem + " That is the UNet alone; add the text encoder and the VAE."
    return problem


q1 = Exercise(
    "q1",
    "SD 1.5 has a 859.5 M-parameter UNet, a 123.1 M text encoder and an 83.7 M VAE. "
    "How many GiB do all its weights take in fp16?",
    _q1_check,
    "Add the three counts, multiply by 2 bytes, divide by 2**30.",
    _q1_solve,
)


def _q2_solve() -> int:
    return 4 * (512 // 8) * (512 // 8)  # the VAE shrinks each side 8x and keeps 4 channels


def _q2_check(answer: Any) -> str | None:
    if isinstance(answer, bool) or not isinstance(answer, int):
        return "expected a whole number of values."
    if answer == _q2_solve():
        return None
    if answer == 64 * 64:
        return "that is one channel: SD's latents have 4 channels."
    if answer == 512 * 512 * 3 // 8:
        return "the VAE shrinks the width and the height by 8 each (64 x smaller area), and has 4 channels."
    if answer == 512 * 512 * 3:
        return "that is the image itself; the UNet works on the VAE's much smaller latent."
    return f"{answer:,} is not it."


q2 = Exercise(
    "q2",
    "SD 1.5's VAE turns a 512 x 512 RGB image into a latent 8 x smaller on each side, with 4 channels. "
    "How many numbers does the latent hold?",
    _q2_check,
    "512 / 8 = 64 on each side; multiply by the number of channels.",
    _q2_solve,
)


def _q3_solve() -> int:
    return 25 * 2  # classifier-free guidance: one pass with the prompt, one with the negative (or empty) prompt


def _q3_check(answer: Any) -> str | None:
    if isinstance(answer, bool) or not isinstance(answer, int):
        return "expected a whole number of UNet passes."
    if answer == _q3_solve():
        return None
    if answer == 25:
        return ("with guidance each step also predicts the noise *without* your prompt (the negative or "
                "empty prompt), and steers away from it.")
    return f"{answer} is not it."


q3 = Exercise(
    "q3",
    "With guidance_scale = 7.5, how many times does the UNet process the latent in a 25-step generation "
    "(diffusers batches some of them together, count them anyway)?",
    _q3_check,
    "Guidance mixes two noise predictions at every step: one conditioned on your prompt, one not.",
    _q3_solve,
)


def _q4_solve() -> str:
    return "vae_tiling"


def _q4_check(answer: Any) -> str | None:
    options = ("attention_slicing", "vae_tiling", "model_cpu_offload", "sequential_cpu_offload")
    if not isinstance(answer, str) or answer.strip().lower() not in options:
        return f"answer one of {', '.join(repr(o) for o in options)}."
    answer = answer.strip().lower()
    if answer == "attention_slicing":
        return "slicing helps the UNet's attention; this run fails after the UNet, while the VAE decodes."
    if answer in ("model_cpu_offload", "sequential_cpu_offload"):
        return ("offloading frees room taken by weights, but the VAE's activations for a big image still have "
                "to fit at once, and every image gets slower. Attack the decoder's activations directly.")
    return None


q4 = Exercise(
    "q4",
    "A 1536 x 1536 image runs out of memory only at the very end, while the VAE decodes. Which technique "
    "fixes exactly that: 'attention_slicing', 'vae_tiling', 'model_cpu_offload' or 'sequential_cpu_offload'?",
    _q4_check,
    "Which technique works on the VAE decoder, splitting one big image into smaller pieces?",
    _q4_solve,
)


def _q5_solve() -> int:
    rank, d = 8, 320
    return 4 * rank * (d + d)  # to_q, to_k, to_v, to_out.0: each adds A (r x d_in) and B (d_out x r)


def _q5_check(answer: Any) -> str | None:
    if isinstance(answer, bool) or not isinstance(answer, int):
        return "expected a whole number of parameters."
    if answer == _q5_solve():
        return None
    if answer == 8 * (320 + 320):
        return "that is one projection; LoRA is on four of them (to_q, to_k, to_v, to_out.0)."
    if answer == 4 * 320 * 320:
        return "that is the size of the frozen weights; LoRA adds two thin matrices of rank 8 instead."
    return f"{answer:,} is not it."


q5 = Exercise(
    "q5",
    "A self-attention block of SD 1.5's first UNet stage has four 320 x 320 projections (to_q, to_k, to_v, "
    "to_out.0). How many trainable parameters does a rank-8 LoRA add to that block?",
    _q5_check,
    "A rank-r LoRA on a d_in x d_out linear layer adds r * (d_in + d_out) weights.",
    _q5_solve,
)
