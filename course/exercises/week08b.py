"""Exercises for week 8b, "Teach Stable Diffusion a style with LoRA": targets, loss, adapter size, precision."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch

from course.exercises import Case, Exercise, choice, near, same_as
from course.exercises.week08a import add_noise, sd_betas
from course.syllabus import objective

NOTEBOOK = "08b-teach-it-a-style"

ADAPTER = objective(NOTEBOOK, "Add a LoRA")
TRAIN = objective(NOTEBOOK, "Write the diffusion")
PRECISION = objective(NOTEBOOK, "Train in the")

TARGETS = ("to_q", "to_k", "to_v", "to_out.0")


# q1: which modules does LoraConfig(target_modules=["to_q", "to_k", "to_v", "to_out.0"]) wrap?
def lora_targets(names: list[str]) -> list[str]:
    """The module names that LoRA wraps: the attention projections, matched as peft does (whole name or suffix)."""
    return [n for n in names if any(n == t or n.endswith("." + t) for t in TARGETS)]


def _block(prefix: str) -> list[str]:
    """Module names of one UNet transformer block, as ``unet.named_modules()`` lists them."""
    names = [prefix, f"{prefix}.norm", f"{prefix}.proj_in", f"{prefix}.transformer_blocks.0"]
    block = f"{prefix}.transformer_blocks.0"
    for attn in ("attn1", "attn2"):
        names += [f"{block}.norm{attn[-1]}", f"{block}.{attn}", f"{block}.{attn}.to_q", f"{block}.{attn}.to_k",
                  f"{block}.{attn}.to_v", f"{block}.{attn}.to_out", f"{block}.{attn}.to_out.0",
                  f"{block}.{attn}.to_out.1"]
    names += [f"{block}.norm3", f"{block}.ff", f"{block}.ff.net", f"{block}.ff.net.0", f"{block}.ff.net.0.proj",
              f"{block}.ff.net.1", f"{block}.ff.net.2", f"{prefix}.proj_out"]
    return names


def _target_cases() -> list[Case]:
    resnet = ["down_blocks.0.resnets.0", "down_blocks.0.resnets.0.conv1", "down_blocks.0.resnets.0.time_emb_proj"]
    up = _block("up_blocks.3.attentions.2")
    return [Case("the first down block of SD 1.5's UNet", (resnet + _block("down_blocks.0.attentions.0"),)),
            Case("the mid block", (["mid_block", *_block("mid_block.attentions.0"), "mid_block.resnets.1.conv2"],)),
            Case("a block with no attention", (resnet + ["conv_in", "conv_out", "time_embedding.linear_1"],)),
            Case("the last up block, listed in reverse order", (up[::-1],)),
            Case("names from a model with a top-level to_q, and a to_qkv that is not a target",
                 (["to_q", "attn.to_qkv", "attn.to_k", "attn.to_out", "attn.to_out.0", "attn.to_out.0.weight_norm",
                   "attn.to_out.1", "unto_v", "ff.net.2"],))]


def _targets_substring(names):
    return [n for n in names if any(t in n for t in ("to_q", "to_k", "to_v", "to_out"))]


def _targets_self_attention_only(names):
    return [n for n in lora_targets(names) if ".attn2." not in n]


def _targets_every_linear(names):
    linear = ("to_q", "to_k", "to_v", "to_out.0", "proj", "net.2", "proj_in", "proj_out", "time_emb_proj")
    return [n for n in names if any(n.endswith("." + t) for t in linear)]


def _targets_plain_suffix(names):
    return [n for n in names if n.endswith(TARGETS)]


def _targets_sorted(names):
    return sorted(lora_targets(names))


def _targets_dot_only(names):
    return [n for n in names if any(n.endswith("." + t) for t in TARGETS)]


def _targets_last_part(names):
    return [n for n in names if n.split(".")[-1] in TARGETS]


def _targets_to_out_module(names):
    return [n for n in names if any(n == t or n.endswith("." + t) for t in ("to_q", "to_k", "to_v", "to_out"))]


def _targets_cross_attention_only(names):
    return [n for n in lora_targets(names) if ".attn1." not in n]


def _targets_q_v_only(names):
    return [n for n in names if any(n == t or n.endswith("." + t) for t in ("to_q", "to_v"))]


def _targets_contains(names):
    return [n for n in names if any(t in n for t in TARGETS)]


def _targets_by_last_parts(names):
    """Compare the last one or two dot-separated parts of each name with the targets."""
    keep = []
    for name in names:
        parts = name.split(".")
        if parts[-1] in ("to_q", "to_k", "to_v") or parts[-2:] == ["to_out", "0"]:
            keep.append(name)
    return keep


def _targets_regex(names):
    import re

    pattern = re.compile(r"(^|\.)(to_q|to_k|to_v|to_out\.0)$")
    return [n for n in names if pattern.search(n)]


TARGET_MISTAKES = [
    (_targets_substring, "you also picked to_out itself and to_out.1: to_out is a list of [Linear, Dropout], and "
                         "LoRA wraps the Linear, to_out.0."),
    (_targets_self_attention_only, "only self-attention (attn1): the prompt enters through cross-attention "
                                   "(attn2), which is where a style tied to a trigger word lives."),
    (_targets_every_linear, "you picked every linear layer (feed-forward, proj_in/out, time embedding): diffusers' "
                            "style LoRA targets only the attention projections to_q, to_k, to_v and to_out.0."),
    (_targets_plain_suffix, "a name that merely ends with the target's letters (unto_v) is not a match: peft wants the "
                            "whole name, or '.' + target at its end."),
    (_targets_sorted, "keep the names in their original order (the order named_modules() lists them), not sorted."),
    (_targets_dot_only, "a name that equals a target (a top-level to_q) matches too: keep n when n == t or "
                        "n.endswith('.' + t)."),
    (_targets_last_part, "to_out.0's last part is '0', so comparing only the last part of the name misses it: "
                         "compare the end of the name with '.' + target."),
    (_targets_to_out_module, "the target is to_out.0, the Linear inside to_out; to_out itself is a ModuleList "
                             "[Linear, Dropout] that LoRA cannot wrap."),
    (_targets_cross_attention_only, "only cross-attention (attn2): the targets match self-attention's (attn1) "
                                    "projections as well."),
    (_targets_q_v_only, "all four targets: to_q, to_k, to_v and to_out.0, not only the query and value "
                        "projections."),
    (_targets_contains, "'t in n' also picks names that merely contain a target (to_qkv, to_out.0.weight_norm, "
                        "unto_v): match the whole name, or '.' + target at its end."),
]

q1 = Exercise(
    "q1",
    "Write lora_targets(names): from a list of module names (unet.named_modules()), return those that "
    "LoraConfig(target_modules=['to_q', 'to_k', 'to_v', 'to_out.0']) wraps, in their original order. peft "
    "matches a name that equals a target or ends with '.' + target.",
    same_as(lora_targets, _target_cases, mistakes=TARGET_MISTAKES, expects="your lora_targets function",
            alternatives=[_targets_by_last_parts, _targets_regex]),
    "Keep n when any(n == t or n.endswith('.' + t) for t in targets).",
    lambda: lora_targets,
    objective=ADAPTER,
    kind="code",
)


# q2: the loss of one training step, with a stand-in UNet and scheduler.
def diffusion_loss(unet: Any, scheduler: Any, latents: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor,
                   text: torch.Tensor, scaling_factor: float) -> torch.Tensor:
    """Scale the VAE latents, noise them, let the UNet predict the noise, return the MSE to the true noise."""
    x0 = latents * scaling_factor
    noisy = scheduler.add_noise(x0, noise, timesteps)
    pred = unet(noisy, timesteps, text).sample
    return torch.nn.functional.mse_loss(pred.float(), noise.float())


class _Scheduler:
    """A stand-in for DDPMScheduler: ``add_noise`` on a given schedule (SD's by default)."""

    def __init__(self, betas: torch.Tensor | None = None) -> None:
        self.betas = sd_betas() if betas is None else betas

    def add_noise(self, original_samples: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """The same signature as diffusers' schedulers, so keyword arguments work as they would there."""
        return add_noise(original_samples, noise, timesteps, self.betas)


def _unet(noisy: torch.Tensor, timesteps: torch.Tensor, text: torch.Tensor) -> SimpleNamespace:
    """A stand-in UNet: a fixed function of its three inputs, returned as ``.sample`` like diffusers' UNet."""
    shift = (timesteps.float() / 1000).view(-1, 1, 1, 1) + text.mean(dim=(1, 2)).view(-1, 1, 1, 1)
    return SimpleNamespace(sample=0.7 * noisy.flip(-1) + shift.to(noisy.dtype))


def _other_unet(noisy: torch.Tensor, timesteps: torch.Tensor, text: torch.Tensor) -> SimpleNamespace:
    """Another stand-in UNet, so that no answer can lean on the first one's formula."""
    scale = text.std(dim=(1, 2)).view(-1, 1, 1, 1).to(noisy.dtype)
    return SimpleNamespace(sample=-0.4 * noisy * scale + noisy.roll(1, dims=-2) * 0.2)


class _TrainableUnet(torch.nn.Module):
    """A stand-in UNet with one trainable weight (1.0, so it answers as ``inner`` does): the loss must carry the
    autograd graph back to it, as loss.backward() needs to reach the LoRA weights."""

    def __init__(self, inner: Any) -> None:
        super().__init__()
        self.inner = inner
        self.weight = torch.nn.Parameter(torch.ones(()))

    def forward(self, noisy: torch.Tensor, timesteps: torch.Tensor, text: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(sample=self.weight.to(noisy.dtype) * self.inner(noisy, timesteps, text).sample)


def _loss_cases() -> list[Case]:
    g = torch.Generator().manual_seed(808)
    lat, eps = torch.randn(2, 4, 4, 4, generator=g) * 5, torch.randn(2, 4, 4, 4, generator=g)
    text = torch.randn(2, 3, 8, generator=g)
    wide = torch.randn(3, 4, 2, 6, generator=g, dtype=torch.float64) * 4
    linear = _Scheduler(torch.linspace(1e-4, 0.02, 50, dtype=torch.float64))  # another schedule, 50 steps
    return [Case("2 latents at timesteps 100 and 700, SD's scaling factor 0.18215, a UNet with a trainable weight",
                 (_TrainableUnet(_unet), _Scheduler(), lat, eps, torch.tensor([100, 700]), text, 0.18215)),
            Case("1 latent at timestep 999, scaling factor 0.5",
                 (_unet, _Scheduler(), lat[:1], eps[:1], torch.tensor([999]), text[:1], 0.5)),
            Case("3 float64 latents of 2 x 6 on a 50-step linear schedule, another UNet, scaling factor 0.13025 (SDXL's)",
                 (_other_unet, linear, wide, wide.flip(0) / 4, torch.tensor([3, 49, 20]),
                  torch.randn(3, 5, 8, generator=g, dtype=torch.float64), 0.13025)),
            Case("2 latents at timestep 0, scaling factor 1 (an int)",
                 (_other_unet, _Scheduler(), lat, eps, torch.tensor([0, 0]), text, 1))]


def _loss_unscaled(unet, scheduler, latents, noise, timesteps, text, scaling_factor):
    return diffusion_loss(unet, scheduler, latents, noise, timesteps, text, 1.0)


def _loss_divided(unet, scheduler, latents, noise, timesteps, text, scaling_factor):
    return diffusion_loss(unet, scheduler, latents / scaling_factor, noise, timesteps, text, 1.0)


def _loss_against_latents(unet, scheduler, latents, noise, timesteps, text, scaling_factor):
    x0 = latents * scaling_factor
    pred = unet(scheduler.add_noise(x0, noise, timesteps), timesteps, text).sample
    return torch.nn.functional.mse_loss(pred, x0)


def _loss_clean_input(unet, scheduler, latents, noise, timesteps, text, scaling_factor):
    pred = unet(latents * scaling_factor, timesteps, text).sample
    return torch.nn.functional.mse_loss(pred, noise)


def _loss_sd_schedule(unet, scheduler, latents, noise, timesteps, text, scaling_factor):
    x0 = latents * scaling_factor
    noisy = add_noise(x0, noise, timesteps, sd_betas())  # week 8a's function, always on SD's schedule
    return torch.nn.functional.mse_loss(unet(noisy, timesteps, text).sample, noise)


def _loss_summed(unet, scheduler, latents, noise, timesteps, text, scaling_factor):
    x0 = latents * scaling_factor
    pred = unet(scheduler.add_noise(x0, noise, timesteps), timesteps, text).sample
    return ((pred - noise) ** 2).sum()


def _loss_fixed_scaling(unet, scheduler, latents, noise, timesteps, text, scaling_factor):
    return diffusion_loss(unet, scheduler, latents, noise, timesteps, text, 0.18215)


def _loss_l1(unet, scheduler, latents, noise, timesteps, text, scaling_factor):
    pred = unet(scheduler.add_noise(latents * scaling_factor, noise, timesteps), timesteps, text).sample
    return torch.nn.functional.l1_loss(pred, noise)


def _loss_scaled_after_noising(unet, scheduler, latents, noise, timesteps, text, scaling_factor):
    noisy = scheduler.add_noise(latents, noise, timesteps) * scaling_factor
    return torch.nn.functional.mse_loss(unet(noisy, timesteps, text).sample, noise)


def _loss_per_latent(unet, scheduler, latents, noise, timesteps, text, scaling_factor):
    pred = unet(scheduler.add_noise(latents * scaling_factor, noise, timesteps), timesteps, text).sample
    return torch.nn.functional.mse_loss(pred, noise, reduction="none").mean(dim=(1, 2, 3))


def _loss_against_noisy(unet, scheduler, latents, noise, timesteps, text, scaling_factor):
    noisy = scheduler.add_noise(latents * scaling_factor, noise, timesteps)
    return torch.nn.functional.mse_loss(unet(noisy, timesteps, text).sample, noisy)


def _loss_item(unet, scheduler, latents, noise, timesteps, text, scaling_factor):
    return diffusion_loss(unet, scheduler, latents, noise, timesteps, text, scaling_factor).item()


def _loss_detached(unet, scheduler, latents, noise, timesteps, text, scaling_factor):
    return diffusion_loss(unet, scheduler, latents, noise, timesteps, text, scaling_factor).detach()


def _loss_by_hand(unet, scheduler, latents, noise, timesteps, text, scaling_factor):
    """The mean of squared errors written out, in float64."""
    noisy = scheduler.add_noise(scaling_factor * latents, noise, timesteps)
    error = unet(noisy, timesteps, text).sample.double() - noise.double()
    return (error * error).mean()


def _loss_keywords(unet, scheduler, latents, noise, timesteps, text, scaling_factor):
    """Keyword arguments, and mse_loss in the latents' own dtype."""
    noisy = scheduler.add_noise(original_samples=latents * scaling_factor, noise=noise, timesteps=timesteps)
    pred = unet(noisy, timesteps, text).sample
    return torch.nn.functional.mse_loss(input=pred, target=noise, reduction="mean")


LOSS_MISTAKES = [
    (_loss_unscaled, "the scaling factor is missing: multiply the VAE latents by vae.config.scaling_factor "
                     "before noising (SD was trained on latents of about unit variance)."),
    (_loss_divided, "you divided by the scaling factor: that is the decoding direction (latents / scaling_factor "
                    "before vae.decode). Training multiplies the VAE's latents by it."),
    (_loss_against_latents, "you compared the prediction with the clean latents: SD 1.5 predicts the noise "
                            "(prediction_type 'epsilon'), so the target is the noise you added."),
    (_loss_clean_input, "the UNet saw the clean latents: noise them first with scheduler.add_noise(latents, "
                        "noise, timesteps)."),
    (_loss_sd_schedule, "you noised on SD's schedule whatever the scheduler: use scheduler.add_noise, which knows "
                        "the schedule the model was trained with."),
    (_loss_summed, "that is the sum of squared errors; the loss is their mean (mse_loss's default), so it does not "
                   "grow with the batch or the image size."),
    (_loss_fixed_scaling, "the scaling factor is fixed at SD 1.5's 0.18215: use the scaling_factor argument "
                          "(vae.config.scaling_factor; SDXL's is 0.13025)."),
    (_loss_l1, "that is the mean absolute error (L1); the diffusion loss is the mean squared error, mse_loss."),
    (_loss_scaled_after_noising, "you scaled after noising, which shrinks the noise too: scale the VAE latents "
                                 "first, then add_noise(latents * scaling_factor, noise, timesteps)."),
    (_loss_per_latent, "that is one loss per latent: average over the batch too, a single number to call "
                       ".backward() on (mse_loss's default reduction)."),
    (_loss_against_noisy, "you compared the prediction with the noisy latents: the target is the noise you added "
                          "(SD 1.5 predicts epsilon)."),
]

q2 = Exercise(
    "q2",
    "Write diffusion_loss(unet, scheduler, latents, noise, timesteps, text, scaling_factor): the loss of one "
    "training step, as in the cell you ran by hand. latents come straight from the VAE; unet(noisy, timesteps, "
    "text).sample is its noise prediction; scheduler.add_noise(x0, noise, timesteps) noises.",
    same_as(diffusion_loss, _loss_cases, mistakes=LOSS_MISTAKES, expects="your diffusion_loss function", alternatives=[_loss_by_hand, _loss_keywords]),
    "Scale, add_noise, unet(...).sample, then torch.nn.functional.mse_loss(prediction, noise).",
    lambda: diffusion_loss,
    objective=TRAIN,
    kind="code",
    wrong=((_loss_item, "cut off from its graph"), (_loss_detached, "cut off from its graph")),
)


def _q3_solve() -> int:
    rank, d = 8, 320
    return 4 * rank * (d + d)  # to_q, to_k, to_v, to_out.0: each adds A (r x d_in) and B (d_out x r)


q3 = Exercise(
    "q3",
    "A self-attention block of SD 1.5's first UNet stage has four 320 x 320 projections (to_q, to_k, to_v, "
    "to_out.0). How many trainable parameters does a rank-8 LoRA add to that block?",
    near(_q3_solve(), rel=0.0, unit="parameters", mistakes={
        8 * (320 + 320): "That is one projection; LoRA is on four of them (to_q, to_k, to_v, to_out.0).",
        4 * 320 * 320: "That is the size of the frozen weights; LoRA adds two thin matrices of rank 8 instead.",
        4 * 8 * 320: "That is half the answer: count A (r x d_in) and B (d_out x r) on each of the four "
                     "projections (to_q, to_k, to_v and to_out.0; not only to_q and to_v).",
        4 * 8 * 320 * 320: "r x d_in x d_out is no thin matrix: A (r x d_in) and B (d_out x r) hold r x (d_in + d_out) "
                           "a projection.",
        2 * 4 * 8 * (320 + 320): "That is twice the answer: rank 8 on the four projections of this one "
                                 "self-attention block (not rank 16, not attn1 and attn2 together, not bytes).",
        4 * 8 * 8: "A and B are r x d_in and d_out x r, not r x r.",
        3 * 8 * (320 + 320): "Four projections, not three: to_out.0 is adapted too."}),
    "A rank-r LoRA on a d_in x d_out linear layer adds r * (d_in + d_out) weights.",
    _q3_solve,
    objective=ADAPTER,
    wrong=(("20k", "expected a number"),),
)

q4 = Exercise(
    "q4",
    "On an RTX 2080 Ti (compute capability 7.5) this notebook trains with fp16 autocast and a GradScaler. A learner "
    "leaves out cast_training_params, so the LoRA weights (and their gradients) stay fp16. What happens at "
    "scaler.unscale_(optimizer): 'trains' (as before), 'nan' (the loss turns NaN after a while) or 'error'?",
    choice("error", {
        "trains": ("GradScaler refuses fp16 gradients: dividing them by the scale in fp16 could itself underflow. "
                   "It raises ValueError('Attempting to unscale FP16 gradients.'); keep trainable weights in fp32."),
        "nan": ("it fails sooner and louder: unscale_ raises ValueError('Attempting to unscale FP16 gradients.') "
                "at the first step; keep trainable weights in fp32 with cast_training_params."),
    }),
    "Read GradScaler.unscale_ in torch/amp/grad_scaler.py: what does it check about each gradient's dtype?",
    lambda: "error",
    objective=PRECISION,
    wrong=(("trains", "Attempting to unscale FP16 gradients"), ("nan", "fails sooner"), ("crash", "not one of")),
    right=("Error", " 'error' "),
)
