"""Exercises for the extra "Generative models from scratch: a DCGAN and a DDPM"."""

from __future__ import annotations

import math
from typing import Any

from course.exercises import Case, Exercise, near, same_as
from course.syllabus import objective

NOTEBOOK = "e4-generative-models"

GAN = objective(NOTEBOOK, "Train a DCGAN:")
DDPM = objective(NOTEBOOK, "Train a DDPM:")
COST = objective(NOTEBOOK, "Compare their sampling")


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
    objective=DDPM,
)


def _q2_solve() -> tuple[int, int, int, int]:
    batch, nz = 16, 64
    return (batch, nz, 1, 1)  # a 1x1 "image" with nz channels, which ConvTranspose2d grows to 7x7


def _q2_check(answer: Any) -> str | None:
    try:
        items = tuple(answer)
    except TypeError:
        return "give the shape as a tuple of integers, like (2, 3, 4, 5)."
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        return "a shape holds whole numbers (ints), like (2, 3, 4, 5): no fractions, strings or booleans."
    shape = items
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
    "ConvTranspose2d takes 4-D input: (batch, channels, height, width). What are the noise's channels?",
    _q2_solve,
    objective=GAN,
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
    objective=GAN,
)


def _q4_solve() -> int:
    diffusion_steps, images, batch = 1000, 64, 16
    return diffusion_steps * (images // batch)  # one U-Net pass per step, for each batch


_q4_check = near(_q4_solve(), rel=0.0, unit="passes", mistakes={
    4: "Four passes would draw them with a GAN (one pass a batch); the DDPM runs its network once per "
       "denoising step.",
    1000: "That is one batch of 16; 64 images take four batches.",
    64000: "A batch goes through the U-Net together: count passes per batch, not per image.",
})


q4 = Exercise(
    "q4",
    "A DDPM with T = 1000 steps draws 64 images, in batches of 16 (what fits in memory). How many forward "
    "passes of its U-Net does that take in all?",
    _q4_check,
    "Count the iterations of the loop in gm.sample_ddpm for one batch, then the batches.",
    _q4_solve,
    objective=COST,
)


def ddpm_schedule(steps: int, beta_start: float = 1e-4, beta_end: float = 0.02):
    """Ho et al.'s linear schedule: (betas, alpha_bar), two tensors of length ``steps``."""
    import torch

    betas = torch.linspace(beta_start, beta_end, steps)  # the noise variance added at each step
    alpha_bar = torch.cumprod(1 - betas, 0)  # the share of the clean signal's variance left after t steps
    return betas, alpha_bar


def _no_product(steps, beta_start=1e-4, beta_end=0.02):
    betas, _ = ddpm_schedule(steps, beta_start, beta_end)
    return betas, 1 - betas


def _product_of_betas(steps, beta_start=1e-4, beta_end=0.02):
    import torch

    betas, _ = ddpm_schedule(steps, beta_start, beta_end)
    return betas, torch.cumprod(betas, 0)


def _sum_not_product(steps, beta_start=1e-4, beta_end=0.02):
    import torch

    betas, _ = ddpm_schedule(steps, beta_start, beta_end)
    return betas, 1 - torch.cumsum(betas, 0)


def _schedule_cases() -> list[Case]:
    return [Case("T = 10 steps, betas from 1e-4 to 0.02", (10,)),
            Case("T = 1000 steps (Ho et al.)", (1000,)),
            Case("T = 5 steps, betas from 0.1 to 0.5", (5, 0.1, 0.5))]


q5 = Exercise(
    "q5",
    "Write ddpm_schedule(steps, beta_start=1e-4, beta_end=0.02): Ho et al.'s linear noise schedule. Return "
    "two tensors of length steps: betas, rising linearly from beta_start to beta_end (both included), and "
    "alpha_bar, where alpha_bar[t] is the product of (1 - beta) over steps 0..t.",
    same_as(ddpm_schedule, _schedule_cases, mistakes=[
        (_no_product, "your alpha_bar is 1 - beta_t, the signal kept by one step; alpha_bar is the product "
                      "over all steps so far (torch.cumprod)."),
        (_product_of_betas, "you multiplied the betas; alpha_bar multiplies the alphas, 1 - beta."),
        (_sum_not_product, "you subtracted the sum of the betas; that is only the first-order approximation "
                           "of the product of (1 - beta): use torch.cumprod."),
    ], expects="your ddpm_schedule function"),
    "torch.linspace(beta_start, beta_end, steps) for the betas; torch.cumprod(1 - betas, 0) for alpha_bar.",
    lambda: ddpm_schedule,
    objective=DDPM,
)
