"""Exercises for the extra "Generative models from scratch: a DCGAN and a DDPM"."""

from __future__ import annotations

import math
from typing import Any

from course.exercises import Exercise, near

NOTEBOOK = "e4-generative-models"


def _q1_solve() -> float:
    alpha_bar, x0, eps = 0.25, 1.0, 0.0
    return math.sqrt(alpha_bar) * x0 + math.sqrt(1 - alpha_bar) * eps


_q1_check = near(_q1_solve(), rel=0.01, mistakes={
    0.25: "The clean image is scaled by the square root of alpha-bar, not alpha-bar itself.",
})


q1 = Exercise(
    "q1",
    "At some step alpha-bar is 0.25. A pixel of the clean image is 1.0 and the noise drawn for it happens "
    "to be 0. What is the pixel's value in x_t?",
    _q1_check,
    "x_t = sqrt(alpha_bar) * x_0 + sqrt(1 - alpha_bar) * eps.",
    _q1_solve,
)


def _q2_solve() -> tuple[int, int, int, int]:
    batch, nz = 16, 64
    return (batch, nz, 1, 1)  # a 1x1 "image" with nz channels, which ConvTranspose2d grows to 7x7


def _q2_check(answer: Any) -> str | None:
    try:
        shape = tuple(int(v) for v in answer)
    except (TypeError, ValueError):
        return "give the shape as a tuple of integers, like (2, 3, 4, 5)."
    if shape == _q2_solve():
        return None
    if shape == (16, 64):
        return "close: ConvTranspose2d needs 4-D input, so the noise is a 1x1 image with 64 channels."
    if shape == (16, 1, 28, 28):
        return "that is the generator's output; the question asks for its input."
    return f"{shape} is not it: batch first, then the 64 noise channels, then height and width."


q2 = Exercise(
    "q2",
    "Our generator (nz = 64) should draw a batch of 16 images. What shape must the noise tensor have?",
    _q2_check,
    "Look at fixed_z in section 2: torch.randn(8, 64, 1, 1) makes 8 images.",
    _q2_solve,
)


def _q3_solve() -> float:
    return 0.5


_q3_check = near(_q3_solve(), rel=0.01, mistakes={
    0: "A discriminator that is sure of itself is winning; at the equilibrium it cannot tell.",
    1: "A discriminator that is sure of itself is winning; at the equilibrium it cannot tell.",
})


q3 = Exercise(
    "q3",
    "If a GAN's generator matched the data perfectly, what probability of 'real' would the best "
    "discriminator give every image?",
    _q3_check,
    "Real and generated images would be indistinguishable: what is the best guess for a coin flip?",
    _q3_solve,
)


def _q4_solve() -> int:
    diffusion_steps = 1000
    return diffusion_steps  # one U-Net pass per step; the GAN needs a single generator pass


_q4_check = near(_q4_solve(), rel=0.0, unit="passes",
                 mistakes={1: "One pass is the GAN; the DDPM runs its network once per denoising step."})


q4 = Exercise(
    "q4",
    "With T = 1000, how many forward passes of its network does the DDPM need to draw one batch of "
    "samples (the GAN needs 1)?",
    _q4_check,
    "Count the iterations of the loop in gm.sample_ddpm.",
    _q4_solve,
)
