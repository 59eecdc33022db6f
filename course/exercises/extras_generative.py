"""Exercises for the extra "Generative models from scratch: a DCGAN and a DDPM"."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

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
    math.sqrt(0.75): "That is sqrt(1 - alpha_bar), the noise's factor; the clean pixel is scaled by sqrt(alpha_bar).",
    1.0: "The clean pixel does not pass unchanged: it is scaled by sqrt(alpha_bar) (and the noise, 0 here, added).",
    0.75: "That is 1 - alpha_bar, the noise's share of the variance; the clean pixel is scaled by sqrt(alpha_bar).",
    0.5 + math.sqrt(0.75): "You added the noise's factor sqrt(1 - alpha_bar) itself; it multiplies the noise, "
                           "which is 0 here.",
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
    batch, width, kernel, stride, padding, side = 16, 32, 7, 1, 0, 1  # nz = 100 is the input's channels only
    out_side = (side - 1) * stride - 2 * padding + kernel  # a transposed convolution grows its input: 1 -> 7
    return (batch, width * 4, out_side, out_side)  # (batch, out_channels, height, width); nz is the input's


def _q2_check(answer: Any) -> str | None:
    import numbers

    try:
        items = tuple(answer)
    except TypeError:
        return "give the shape as a tuple of integers, like (2, 3, 4, 5)."
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and type(v).__name__ != "bool_"
               for v in items):
        return "a shape holds whole numbers (ints), like (2, 3, 4, 5): no fractions, strings or booleans."
    shape = tuple(int(v) for v in items)
    if shape == _q2_solve():
        return None
    if len(shape) != 4:
        return f"{shape} has {len(shape)} numbers; a ConvTranspose2d output is 4-D: (batch, channels, height, width)."
    feedback = {
        (16, 100, 7, 7): "the channels out of the layer are its out_channels, width * 4; nz = 100 is the input's.",
        (16, 128, 1, 1): "a transposed convolution grows its input: (1 - 1) * 1 - 2 * 0 + 7 = 7 pixels a side.",
        (16, 32, 7, 7): "the first layer has width * 4 output channels, not width.",
        (16, 100, 1, 1): "that is the layer's input, the noise; the question asks what comes out.",
        (16, 1, 28, 28): "that is the generator's output, after all three layers; the question asks after the first.",
        (16, 128, 8, 8): "a side is (n - 1) * stride - 2 * padding + kernel: (1 - 1) * 1 - 0 + 7 = 7, not n * stride "
                         "+ kernel.",
        (16, 7, 7, 128): "PyTorch puts the channels before height and width: (batch, channels, height, width).",
    }
    return feedback.get(shape, f"{shape} is not it: batch first, then the layer's output channels, then height and "
                               "width, from (n - 1) * stride - 2 * padding + kernel.")


q2 = Exercise(
    "q2",
    "A Generator(nz=100, width=32) of section 2 gets a batch of 16 noise vectors, shaped (16, 100, 1, 1). Its "
    "first layer is nn.ConvTranspose2d(nz, width * 4, 7, 1, 0) (kernel 7, stride 1, padding 0). What shape comes "
    "out of that layer?",
    _q2_check,
    "Batch first, then the layer's out_channels, then each side: (n - 1) * stride - 2 * padding + kernel_size.",
    _q2_solve,
    objective=GAN,
    wrong=(((16, 100, 7, 7), "out_channels"), ((16, 128, 1, 1), "grows its input"), ((16, 100, 1, 1), "input"),
           ((16, 1, 28, 28), "generator's output"),
           ((16.0, 128, 7, 7), "whole numbers"), ((True, 128, 7, 7), "whole numbers"), (("16", 128, 7, 7), "whole numbers"),
           ((16, 128, 7), "4-D"), ((16, 128, 8, 8), "(n - 1) * stride"), ((16, 7, 7, 128), "channels before")),
    right=([16, 128, 7, 7], tuple(np.array([16, 128, 7, 7]))),  # a list; NumPy integers (np.int64)
)


def _q3_solve() -> float:
    p_data, p_gen = 1.0, 4.0  # the generator makes this image 4 times as often as the data does
    return p_data / (p_data + p_gen)


_q3_check = near(_q3_solve(), rel=0.01, mistakes={
    0.8: "You put p_G on top: D* is the probability of 'real', p_data / (p_data + p_G).",
    0.25: "That is p_data / p_G; the denominator of D* is the sum, p_data + p_G.",
    0.5: "0.5 is the answer where the generator matches the data; here it makes this image 4 times as often.",
    4.0: "A probability is between 0 and 1: D* = p_data / (p_data + p_G).",
    20.0: "That is a percentage; give the probability as a fraction between 0 and 1.",
})


q3 = Exercise(
    "q3",
    "The generator produces a certain image four times as often as the real data does (p_G = 4 p_data for that "
    "image). What probability of 'real' does the best possible discriminator give it?",
    _q3_check,
    "D*(x) = p_data(x) / (p_data(x) + p_G(x)), from section 2. Take p_data = 1 and p_G = 4.",
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
    3996: "The sampling loop runs T = 1000 times per batch (t = 999 down to 0), not T - 1.",
    16000: "That is 1000 steps for each of the 16 images of a batch; the batch goes through the U-Net together, "
           "and there are 64 / 16 = 4 batches.",
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


def _end_left_out(steps, beta_start=1e-4, beta_end=0.02):
    import torch

    betas = beta_start + (beta_end - beta_start) * torch.arange(steps) / steps  # stops one step short of beta_end
    return betas, torch.cumprod(1 - betas, 0)


def _alpha_bar_one_step_late(steps, beta_start=1e-4, beta_end=0.02):
    import torch

    betas, alpha_bar = ddpm_schedule(steps, beta_start, beta_end)
    return betas, torch.cat([torch.ones(1), alpha_bar[:-1]])  # alpha_bar[t] leaves out step t itself


def _square_root(steps, beta_start=1e-4, beta_end=0.02):
    betas, alpha_bar = ddpm_schedule(steps, beta_start, beta_end)
    return betas, alpha_bar.sqrt()


def _start_left_out(steps, beta_start=1e-4, beta_end=0.02):
    import torch

    betas = torch.linspace(beta_start, beta_end, steps + 1)[1:]  # starts one step after beta_start
    return betas, torch.cumprod(1 - betas, 0)


def _swapped(steps, beta_start=1e-4, beta_end=0.02):
    betas, alpha_bar = ddpm_schedule(steps, beta_start, beta_end)
    return alpha_bar, betas


def _alphas_for_betas(steps, beta_start=1e-4, beta_end=0.02):
    betas, alpha_bar = ddpm_schedule(steps, beta_start, beta_end)
    return 1 - betas, alpha_bar


def _schedule_by_loop(steps, beta_start=1e-4, beta_end=0.02):
    """Another style: a Python loop in float64, step by step, converted to tensors at the end."""
    import torch

    betas, alpha_bar, kept = [], [], 1.0
    for t in range(steps):
        beta = beta_start + (beta_end - beta_start) * t / (steps - 1) if steps > 1 else beta_start
        kept *= 1 - beta
        betas.append(beta)
        alpha_bar.append(kept)
    return torch.tensor(betas, dtype=torch.float64), torch.tensor(alpha_bar, dtype=torch.float64)


def _schedule_numpy(steps, beta_start=1e-4, beta_end=0.02):
    """Another style: NumPy arrays (np.linspace, np.cumprod)."""
    betas = np.linspace(beta_start, beta_end, steps)
    return betas, np.cumprod(1 - betas)


def _schedule_cases() -> list[Case]:
    return [Case("T = 10 steps, betas from 1e-4 to 0.02", (10,)),
            Case("T = 1000 steps (Ho et al.)", (1000,)),
            Case("T = 5 steps, betas from 0.1 to 0.5", (5, 0.1, 0.5)),
            Case("T = 50 steps, beta_end = 0.05 given by name", (50,), {"beta_end": 0.05}),
            Case("T = 3 steps, beta_start = 0.2 by name (the betas fall to 0.02)", (3,), {"beta_start": 0.2})]


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
        (_end_left_out, "your betas stop one step short of beta_end: both ends are included, as "
                        "torch.linspace(beta_start, beta_end, steps) does."),
        (_alpha_bar_one_step_late, "your alpha_bar is one step late: alpha_bar[0] is already 1 - beta_0, the "
                                   "product over steps 0..t includes step t (torch.cumprod, no shift)."),
        (_square_root, "you returned sqrt(alpha_bar), the clean image's factor in x_t; return alpha_bar itself "
                       "(the product of 1 - beta)."),
        (_start_left_out, "your betas start one step after beta_start: both ends are included, as "
                          "torch.linspace(beta_start, beta_end, steps) does."),
        (_swapped, "you returned (alpha_bar, betas); return them in the order asked: (betas, alpha_bar)."),
        (_alphas_for_betas, "your first tensor is the alphas, 1 - beta; return the betas themselves first."),
        (_schedule_numpy, "you returned NumPy arrays; return torch tensors (torch.linspace, torch.cumprod): the "
                          "notebook's sampler moves them to the GPU beside the images."),
    ], alternatives=[_schedule_by_loop], expects="your ddpm_schedule function"),
    "torch.linspace(beta_start, beta_end, steps) for the betas; torch.cumprod(1 - betas, 0) for alpha_bar.",
    lambda: ddpm_schedule,
    objective=DDPM,
)
