"""Exercises for week 8a, "Text to image with Stable Diffusion": weights, latents, guidance, noising, tiling."""

from __future__ import annotations

from typing import Any

import torch

from course.exercises import Case, Exercise, choice, differs, near, same_as
from course.syllabus import objective
from helpers.presets import GIB

NOTEBOOK = "08a-text-to-image"

PARTS = objective(NOTEBOOK, "Name the parts")
STEER = objective(NOTEBOOK, "Steer images with")
WRITE = objective(NOTEBOOK, "Write classifier-free guidance")
MEASURE = objective(NOTEBOOK, "Measure peak VRAM")

# Published parameter counts: SD 1.5 model card ("860M UNet", "123M text encoder"); the VAE's
# 83.65 M is counted from its config (helpers/presets/sd15-vae.json).
SD15_PARAMS = {"unet": 859.52e6, "text_encoder": 123.06e6, "vae": 83.65e6}
_TOTAL = sum(SD15_PARAMS.values())

q1 = Exercise(
    "q1",
    "SD 1.5 has a 859.5 M-parameter UNet, a 123.1 M text encoder and an 83.7 M VAE. "
    "How many GiB do all its weights take in fp16?",
    # 1.5%: room for 2.0 and 1.99, not for 1.95 or GB / (1000 x 2**20) (2.03)
    near(_TOTAL * 2 / GIB, rel=0.015, unit="GiB", mistakes={
        _TOTAL * 4 / GIB: "That is fp32 (4 bytes per parameter); fp16 uses 2.",
        _TOTAL * 2 / 1e9: "That is in GB (10^9 bytes); divide by 2**30 for GiB.",
        SD15_PARAMS["unet"] * 2 / GIB: "That is the UNet alone; add the text encoder and the VAE.",
        (SD15_PARAMS["unet"] + SD15_PARAMS["text_encoder"]) * 2 / GIB: "Add the VAE too (83.7 M): the pipeline "
                                                                         "loads all three.",
        (SD15_PARAMS["unet"] + SD15_PARAMS["vae"]) * 2 / GIB: "Add the text encoder too (123.1 M): the pipeline "
                                                                "loads all three.",
        _TOTAL * 2 / 2**20: "That is in MiB; divide by 1024 once more (2**30 bytes a GiB).",
        _TOTAL * 16 / GIB: "That counts bits: fp16 is 16 bits, 2 bytes a parameter."}),
    "Add the three counts, multiply by 2 bytes, divide by 2**30.",
    lambda: _TOTAL * 2 / GIB,
    objective=PARTS,
    wrong=((_TOTAL / GIB, "too low"), ("2 GiB", "expected a number")),
    right=(2.0, 1.99),  # rounded the way a learner writes it
)


def _q2_solve() -> int:
    return 4 * (512 // 8) * (512 // 8)  # the VAE shrinks each side 8x and keeps 4 channels


q2 = Exercise(
    "q2",
    "SD 1.5's VAE turns a 512 x 512 RGB image into a latent 8 x smaller on each side, with 4 channels. "
    "How many numbers does the latent hold?",
    near(_q2_solve(), rel=0.0, unit="numbers", mistakes={
        64 * 64: "That is one channel: SD's latents have 4 channels.",
        3 * 64 * 64: "The latent has 4 channels, not the image's 3 (R, G, B).",
        512 * 512 * 3 // 8: "The VAE shrinks the width and the height by 8 each (a 64 x smaller area), and has 4 channels.",
        512 * 512 * 3: "That is the image itself; the UNet works on the VAE's much smaller latent.",
        4 * 512 * 512 // 8: "Divide the width and the height by 8 each: the area shrinks 64-fold, not 8-fold.",
        2 * 4 * 64 * 64: "That is twice the answer: count the numbers of one latent (not its fp16 bytes, nor the "
                         "doubled batch of guidance).",
        4 * 128 * 128: "That is four times the answer: 512 / 8 = 64 on each side (not 128), and count numbers, not "
                       "fp32 bytes."}),
    "512 / 8 = 64 on each side; multiply by the number of channels.",
    _q2_solve,
    objective=PARTS,
    wrong=((16385, "too high"), ("16k", "expected a number")),
)


def _q3_solve() -> int:
    return 25  # at scale 1, uncond + 1 * (cond - uncond) = cond: diffusers skips the unconditional pass


q3 = Exercise(
    "q3",
    "Put guidance_scale = 1.0 into the guidance line you wrote (q5). With it, how many times does diffusers run "
    "the UNet on the latent in a 25-step generation of one image (count a batched pair as two)?",
    near(_q3_solve(), rel=0.0, unit="UNet passes", mistakes={
        50: ("At scale 1 the guidance line gives cond alone, so the unconditional prediction would be thrown away: "
             "diffusers skips it (do_classifier_free_guidance is guidance_scale > 1)."),
        0: "Guidance 1 still denoises: the UNet predicts the noise once per step.",
        1: "The UNet runs at every one of the 25 steps, not once per image.",
        26: "Count the UNet passes only: the text encoder and the VAE run once, but they are other models.",
        24: "The UNet runs at every one of the 25 steps, the first and the last included.",
        2: "Count over the whole generation: one UNet pass at each of the 25 steps.",
        51: "At scale 1 diffusers skips the unconditional pass, and the text encoder and the VAE are not the UNet: "
            "one UNet pass a step."}),
    "What does uncond + 1.0 * (cond - uncond) simplify to? Is uncond still needed?",
    _q3_solve,
    objective=STEER,
    wrong=(("twenty-five", "expected a number"),),
)

q4 = Exercise(
    "q4",
    "A 1536 x 1536 image runs out of memory only at the very end, while the VAE decodes. Which technique "
    "fixes exactly that: 'attention_slicing', 'vae_slicing', 'vae_tiling', 'model_cpu_offload' or "
    "'sequential_cpu_offload'?",
    choice("vae_tiling", {
        "vae_slicing": ("slicing decodes a batch one image at a time; here one big image is too large to decode at "
                        "once: split the image itself."),
        "attention_slicing": "slicing helps the UNet's attention; this run fails after the UNet, while the VAE decodes.",
        "model_cpu_offload": ("offloading frees room taken by weights, but the VAE's activations for a big image "
                              "still have to fit at once, and every image gets slower. Attack the decoder's "
                              "activations directly."),
        "sequential_cpu_offload": ("offloading frees room taken by weights, but the VAE's activations for a big "
                                   "image still have to fit at once. Attack the decoder's activations directly."),
    }),
    "Which technique works on the VAE decoder, splitting one big image into smaller pieces?",
    lambda: "vae_tiling",
    objective=MEASURE,
    wrong=(("attention_slicing", "while the VAE decodes"), ("model_cpu_offload", "every image gets slower"),
           ("sequential_cpu_offload", "decoder's activations"), ("vae_slicing", "split the image itself"),
           ("xformers", "not one of the options"), ("VAE slicing", "split the image itself"),
           ("pipe.enable_model_cpu_offload()", "every image gets slower")),
    right=(" VAE_Tiling ", "'vae_tiling'", "VAE tiling", "enable_vae_tiling", "pipe.enable_vae_tiling()"),
)


def same_tensor(got: Any, expected: Any) -> str | None:
    """``differs``, and a tensor where a tensor is expected, in the latents' own dtype: the scheduler and the UNet
    take tensors, and a float64 or float32 result from fp16 or float32 latents breaks the next UNet call."""
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return (f"return a torch tensor (the scheduler and the UNet work on tensors), not a "
                    f"{type(got).__module__.split('.')[0]} {type(got).__name__}.")
        if got.dtype != expected.dtype and tuple(got.shape) == tuple(expected.shape):
            return (f"your output is {got.dtype} where the latents are {expected.dtype}: keep their dtype (cast what "
                    f"you mix into them with .to(latents.dtype)), or the UNet refuses its next input.")
    return differs(got, expected)


# q5: classifier-free guidance, as diffusers' StableDiffusionPipeline writes it.
def guide(noise_pred: torch.Tensor, scale: float) -> torch.Tensor:
    """Split the batch into (unconditional, conditional) halves and push away from the unconditional one."""
    noise_uncond, noise_cond = noise_pred.chunk(2)
    return noise_uncond + scale * (noise_cond - noise_uncond)


def _guide_cases() -> list[Case]:
    g = torch.Generator().manual_seed(8)
    two = torch.randn(4, 4, 3, 3, generator=g)  # 2 images: 2 unconditional predictions, then 2 conditional
    one = torch.randn(2, 4, 2, 2, generator=g)
    three = torch.randn(6, 4, 5, 3, generator=g, dtype=torch.float64)  # 3 images, not square, in float64
    return [Case("a batch of 2 images at scale 7.5", (two, 7.5)),
            Case("1 image at scale 1.0 (the answer must be the conditional prediction)", (one, 1.0)),
            Case("1 image at scale 0.0 (the answer must be the unconditional prediction)", (one, 0.0)),
            Case("3 images of 5 x 3 latents in float64 at scale 3 (an int)", (three, 3))]


def _guide_wrong_side(noise_pred, scale):
    cond, uncond = noise_pred.chunk(2)
    return uncond + scale * (cond - uncond)


def _guide_from_cond(noise_pred, scale):
    uncond, cond = noise_pred.chunk(2)
    return cond + scale * (cond - uncond)


def _guide_no_base(noise_pred, scale):
    uncond, cond = noise_pred.chunk(2)
    return scale * (cond - uncond)


def _guide_fixed_scale(noise_pred, scale):
    uncond, cond = noise_pred.chunk(2)
    return uncond + 7.5 * (cond - uncond)  # the scale printed in the notebook, hard-coded


def _guide_doubled_batch(noise_pred, scale):
    return noise_pred  # the whole doubled batch back: one prediction per copy, not per image


def _guide_first_two(noise_pred, scale):
    return noise_pred[0] + scale * (noise_pred[1] - noise_pred[0])  # one image's pair: the batch of 1 in the notebook


def _guide_interleaved(noise_pred, scale):
    uncond, cond = noise_pred[::2], noise_pred[1::2]  # uncond, cond, uncond, cond, ...
    return uncond + scale * (cond - uncond)


def _guide_away(noise_pred, scale):
    uncond, cond = noise_pred.chunk(2)
    return uncond - scale * (cond - uncond)


def _guide_scaled_cond(noise_pred, scale):
    uncond, cond = noise_pred.chunk(2)
    return uncond + scale * cond - uncond  # the brackets dropped: scale * cond


def _guide_numpy(noise_pred, scale):
    uncond, cond = noise_pred.chunk(2)
    return (uncond + scale * (cond - uncond)).numpy()


def _guide_float32(noise_pred, scale):
    uncond, cond = noise_pred.float().chunk(2)
    return uncond + scale * (cond - uncond)


def _guide_from_cond_back(noise_pred, scale):
    """Another rearrangement: from cond, then (scale - 1) times further."""
    uncond, cond = torch.tensor_split(noise_pred, 2)
    return cond + (scale - 1) * (cond - uncond)


def _guide_lerp(noise_pred, scale):
    """The same line as a linear interpolation (and extrapolation) from uncond toward cond."""
    half = noise_pred.shape[0] // 2
    return torch.lerp(noise_pred[:half], noise_pred[half:], float(scale))


def _guide_weighted(noise_pred, scale):
    """Rearranged: (1 - s) * uncond + s * cond, on slices instead of chunk."""
    half = len(noise_pred) // 2
    return (1 - scale) * noise_pred[:half] + scale * noise_pred[half:]


GUIDE_MISTAKES = [
    (_guide_wrong_side, "guidance applied to the wrong side: diffusers puts the unconditional (negative-prompt) "
                        "half first, so you pushed toward the negative prompt and away from yours."),
    (_guide_from_cond, "you started from the conditional prediction; start from the unconditional one, so that "
                       "scale 1 gives cond exactly and scale 0 gives uncond."),
    (_guide_no_base, "the base term is missing: uncond + scale * (cond - uncond), not scale * (cond - uncond)."),
    (_guide_fixed_scale, "the scale is fixed at 7.5: use the scale argument (the pipeline's guidance_scale)."),
    (_guide_first_two, "noise_pred[0] and noise_pred[1] are one latent each, which fits one image only: split the "
                       "batch in halves, noise_pred.chunk(2) (the unconditional half first)."),
    (_guide_interleaved, "diffusers concatenates the halves (all unconditional, then all conditional), not "
                         "alternating rows: split with noise_pred.chunk(2)."),
    (_guide_away, "the sign is flipped: you pushed away from the prompt. Add scale * (cond - uncond) to uncond."),
    (_guide_scaled_cond, "the brackets went missing: uncond + scale * cond - uncond is scale * cond; write uncond + "
                         "scale * (cond - uncond)."),
]

q5 = Exercise(
    "q5",
    "Write guide(noise_pred, scale): noise_pred holds the UNet's predictions for a doubled batch, the "
    "unconditional half first (as diffusers concatenates them); return the guided noise for the images.",
    same_as(guide, _guide_cases, mistakes=GUIDE_MISTAKES, expects="your guide function", compare=same_tensor,
            alternatives=[_guide_lerp, _guide_weighted, _guide_from_cond_back]),
    "noise_uncond, noise_cond = noise_pred.chunk(2); then the classifier-free guidance line.",
    lambda: guide,
    objective=WRITE,
    kind="code",
    wrong=((_guide_doubled_batch, "expected shape"), (_guide_numpy, "return a torch tensor"),
           (_guide_float32, "keep their dtype")),
)


# q6: the forward-noising step x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps.
def sd_betas(steps: int = 1000) -> torch.Tensor:
    """SD 1.5's "scaled_linear" schedule: betas from 0.00085 to 0.012, linear in their square root."""
    return torch.linspace(0.00085**0.5, 0.012**0.5, steps, dtype=torch.float64) ** 2


def add_noise(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """Noise clean latents ``x0`` to timesteps ``t`` (one per image) in one jump, as a scheduler's add_noise."""
    alpha_bar = torch.cumprod(1 - betas, dim=0)[t].to(x0.dtype).view(-1, *([1] * (x0.dim() - 1)))
    return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise


def _noise_cases() -> list[Case]:
    g = torch.Generator().manual_seed(88)
    x0, eps = torch.randn(3, 4, 4, 4, generator=g), torch.randn(3, 4, 4, 4, generator=g)
    wide = torch.randn(2, 3, 2, 5, generator=g, dtype=torch.float64)
    betas = sd_betas()
    linear = torch.linspace(0.05, 0.5, 10, dtype=torch.float64)
    return [Case("3 latents at timesteps 10, 500 and 999 (SD's schedule)", (x0, eps, torch.tensor([10, 500, 999]), betas)),
            Case("one latent at timestep 0", (x0[:1], eps[:1], torch.tensor([0]), betas)),
            Case("2 latents on a 10-step linear schedule, timesteps 3 and 9",
                 (x0[:2], eps[:2], torch.tensor([3, 9]), linear)),
            Case("2 latents of 3 x 2 x 5 in float64, timesteps 9 and 4, with float32 betas (as diffusers keeps them)",
                 (wide, wide.flip(0), torch.tensor([9, 4]), linear.float())),
            Case("2 latents at the same timestep 250 (SD's schedule)", (x0[1:], eps[1:], torch.tensor([250, 250]), betas))]


def _shape(alpha: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    return alpha.to(x0.dtype).view(-1, *([1] * (x0.dim() - 1)))


def _noise_alpha_t(x0, noise, t, betas):
    a = _shape((1 - betas)[t], x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def _noise_no_sqrt(x0, noise, t, betas):
    a = _shape(torch.cumprod(1 - betas, 0)[t], x0)
    return a * x0 + (1 - a) * noise


def _noise_swapped(x0, noise, t, betas):
    a = _shape(torch.cumprod(1 - betas, 0)[t], x0)
    return (1 - a).sqrt() * x0 + a.sqrt() * noise


def _noise_off_by_one(x0, noise, t, betas):
    a_bar = torch.cat([torch.ones(1, dtype=betas.dtype), torch.cumprod(1 - betas, 0)])
    a = _shape(a_bar[t], x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def _noise_first_t(x0, noise, t, betas):
    a = torch.cumprod(1 - betas, 0)[t[0]].to(x0.dtype)  # one timestep for the whole batch
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def _noise_loop(x0, noise, t, betas):
    """One latent at a time, alpha_bar as a running product in plain Python."""
    out = []
    for latent, eps, step in zip(x0, noise, t.tolist()):
        alpha_bar = 1.0
        for beta in betas[: step + 1].tolist():
            alpha_bar *= 1 - beta
        out.append(alpha_bar**0.5 * latent + (1 - alpha_bar) ** 0.5 * eps)
    return torch.stack(out)


def _noise_log_space(x0, noise, t, betas):
    """alpha_bar as exp(cumsum(log(1 - beta))), broadcast with None indexing."""
    alpha_bar = torch.exp(torch.log1p(-betas.double()).cumsum(0))[t].to(x0.dtype)[:, None, None, None]
    return alpha_bar.sqrt() * x0 + torch.sqrt(1 - alpha_bar) * noise


def _noise_float64(x0, noise, t, betas):
    alpha_bar = torch.cumprod(1 - betas, 0)[t].view(-1, 1, 1, 1)  # left in the schedule's dtype
    return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise


def _noise_numpy(x0, noise, t, betas):
    return add_noise(x0, noise, t, betas).numpy()


def _noise_cumprod_of_betas(x0, noise, t, betas):
    a = _shape(torch.cumprod(betas, 0)[t], x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def _noise_sd_schedule(x0, noise, t, betas):
    return add_noise(x0, noise, t, sd_betas())  # SD's 1000-step schedule whatever betas says


NOISE_MISTAKES = [
    (_noise_alpha_t, "you used alpha_t (1 - beta_t of that one step) instead of alpha_bar_t, the product of "
                     "(1 - beta_s) over every step up to t: torch.cumprod(1 - betas, 0)[t]."),
    (_noise_no_sqrt, "the square roots are missing: the variances alpha_bar and 1 - alpha_bar add up to 1, so the "
                     "weights are their square roots."),
    (_noise_swapped, "the weights are swapped: the clean latent gets sqrt(alpha_bar_t), the noise sqrt(1 - alpha_bar_t)."),
    (_noise_off_by_one, "off by one: alpha_bar_t includes step t itself (diffusers' alphas_cumprod[t])."),
    (_noise_first_t, "every latent got the first latent's timestep: index alpha_bar with the whole t, one per latent."),
    (_noise_cumprod_of_betas, "alpha_bar is the product of the alphas, 1 - beta_s, not of the betas: "
                              "torch.cumprod(1 - betas, 0)[t]."),
    (_noise_sd_schedule, "you used SD's schedule whatever betas you were given: build alpha_bar from the betas "
                         "argument (this case has a 10-step schedule)."),
]

q6 = Exercise(
    "q6",
    "Write add_noise(x0, noise, t, betas): noise the clean latents x0 (a batch) to the timesteps t (one per "
    "latent) in one jump, given the schedule's betas, as the scheduler's add_noise does (the result in x0's dtype).",
    same_as(add_noise, _noise_cases, mistakes=NOISE_MISTAKES, expects="your add_noise function", compare=same_tensor,
            alternatives=[_noise_loop, _noise_log_space]),
    "alpha_bar = torch.cumprod(1 - betas, 0)[t], reshaped to (batch, 1, 1, 1) and cast to x0's dtype (as diffusers "
    "does); x_t = sqrt(alpha_bar) * x0 + sqrt(1 - alpha_bar) * noise.",
    lambda: add_noise,
    objective=WRITE,
    kind="code",
    wrong=((_noise_float64, "keep their dtype"), (_noise_numpy, "return a torch tensor")),
)
