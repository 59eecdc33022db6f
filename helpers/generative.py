"""Generative models from scratch, small enough to read: the networks and the sampler of a DCGAN and a DDPM.

Images are float tensors in [-1, 1] (``to_signed``), the range both models produce. The GAN
follows Radford et al. (2016, "DCGAN"): transposed convolutions, batch norm. The DDPM follows Ho et al.
(2020): a linear noise schedule from 1e-4 to 0.02 over T steps, a network that predicts the added
noise, and ancestral sampling from pure noise. The training loops (the GAN's two steps, the DDPM's
"pick a step, add noise, predict it, MSE") and the forward jump are written in the notebook itself;
``add_noise`` here is the same jump, for ``benchmarks.rehearse_steps``. The libraries that do this for
real (diffusers' ``UNet2DModel`` and ``DDPMScheduler``) are week 8's subject.

Taught in extra e4 (e4-generative-models).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


def to_signed(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 images (N x 1 x H x W, 0..255) as floats in [-1, 1]."""
    return images_uint8.float().div(127.5).sub(1.0)


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] back to [0, 1] for plotting."""
    return x.detach().float().cpu().add(1).div(2).clamp(0, 1)


def batches(x: torch.Tensor, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """One shuffled epoch of ``x``, one batch at a time (the last, smaller one is dropped).

    A generator, not a list: a list of every batch would hold a second copy of the whole data set on the device.
    """
    order = torch.randperm(len(x), generator=generator, device="cpu").to(x.device)
    for i in range(0, len(x) - batch_size + 1, batch_size):
        yield x[order[i:i + batch_size]]


# ---------------------------------------------------------------------------------------- DCGAN
class Generator(nn.Sequential):
    """DCGAN generator: noise (N x nz x 1 x 1) -> 7x7 -> 14x14 -> 28x28 image in [-1, 1]."""

    def __init__(self, nz: int = 64, width: int = 32) -> None:
        super().__init__(
            nn.ConvTranspose2d(nz, width * 4, 7, 1, 0, bias=False), nn.BatchNorm2d(width * 4), nn.ReLU(True),
            nn.ConvTranspose2d(width * 4, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2), nn.ReLU(True),
            nn.ConvTranspose2d(width * 2, 1, 4, 2, 1), nn.Tanh(),
        )
        self.nz = nz


class Discriminator(nn.Sequential):
    """DCGAN discriminator: 28x28 image -> 14x14 -> 7x7 -> one logit (real vs generated)."""

    def __init__(self, width: int = 32) -> None:
        super().__init__(
            nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(width * 2, 1, 7, 1, 0), nn.Flatten(),
        )


# ----------------------------------------------------------------------------------------- DDPM
def linear_schedule(steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> dict[str, torch.Tensor]:
    """Ho et al.'s noise schedule: betas, alphas and the cumulative products alpha-bar, per step."""
    # Scaled so that any number of steps ends about as noisy as Ho et al.'s 1000 steps do (as in
    # improved-diffusion); capped below 1, since a step cannot remove more than all of the signal.
    scale = 1000 / steps
    betas = torch.linspace(beta_start * scale, beta_end * scale, steps).clamp(max=0.999)
    alphas = 1 - betas
    return {"betas": betas, "alphas": alphas, "alpha_bar": torch.cumprod(alphas, 0)}


def add_noise(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """The forward process in one jump: x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise."""
    a = alpha_bar.to(x0.device)[t].view(-1, 1, 1, 1)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of the step number, as in the Transformer and in DDPM."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class _Block(nn.Module):
    """Two 3x3 convolutions with group norm and SiLU; the step's embedding is added in between."""

    def __init__(self, cin: int, cout: int, tdim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.norm1, self.norm2 = nn.GroupNorm(8, cout), nn.GroupNorm(8, cout)
        self.time = nn.Linear(tdim, cout)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.norm1(self.conv1(x)))
        h = h + self.time(temb)[:, :, None, None]
        return F.silu(self.norm2(self.conv2(h)))


class TinyUNet(nn.Module):
    """A two-level U-Net for 28x28 images that predicts the noise in x_t given t."""

    def __init__(self, width: int = 32, tdim: int = 64) -> None:
        super().__init__()
        self.tdim = tdim
        self.time_mlp = nn.Sequential(nn.Linear(tdim, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.down1 = _Block(1, width, tdim)  # 28x28
        self.down2 = _Block(width, width * 2, tdim)  # 14x14
        self.mid = _Block(width * 2, width * 2, tdim)  # 7x7
        self.up2 = _Block(width * 4, width, tdim)  # 14x14, with the skip from down2
        self.up1 = _Block(width * 2, width, tdim)  # 28x28, with the skip from down1
        self.out = nn.Conv2d(width, 1, 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.time_mlp(time_embedding(t, self.tdim))
        h1 = self.down1(x, temb)
        h2 = self.down2(F.avg_pool2d(h1, 2), temb)
        m = self.mid(F.avg_pool2d(h2, 2), temb)
        u2 = self.up2(torch.cat([F.interpolate(m, scale_factor=2), h2], 1), temb)
        u1 = self.up1(torch.cat([F.interpolate(u2, scale_factor=2), h1], 1), temb)
        return self.out(u1)


@torch.no_grad()
def sample_ddpm(model: nn.Module, schedule: dict[str, torch.Tensor], n: int, seed: int = 0,
                device: torch.device | str = "cpu", keep: int = 6) -> tuple[torch.Tensor, list[tuple[int, torch.Tensor]]]:
    """Ancestral sampling from pure noise; returns the images and ``keep`` snapshots (step, x_t) on the way."""
    from tqdm.auto import tqdm

    model.eval()
    betas, alphas, abar = (schedule[k].to(device) for k in ("betas", "alphas", "alpha_bar"))
    steps = len(betas)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 28, 28, generator=g).to(device)
    marks = {int(s) for s in torch.linspace(steps - 1, 0, keep).round()}
    snapshots = []
    for t in tqdm(range(steps - 1, -1, -1), desc="sampling", mininterval=0.5):
        eps = model(x, torch.full((n,), t, device=device))
        mean = (x - betas[t] / (1 - abar[t]).sqrt() * eps) / alphas[t].sqrt()
        noise = torch.randn(x.shape, generator=g).to(device) if t > 0 else 0.0
        x = mean + betas[t].sqrt() * noise
        if t in marks:
            snapshots.append((t, x.clamp(-1, 1).cpu()))
    return x.clamp(-1, 1), snapshots


def snapshot_grid(rows: list[tuple[str, torch.Tensor]], title: str = "") -> Any:
    """A figure with one row of images per (label, batch in [-1, 1]): e.g. samples after each epoch."""
    import matplotlib.pyplot as plt

    ncols = max(len(x) for _, x in rows)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(0.9 * ncols, 0.95 * len(rows) + 0.3), squeeze=False)
    for r, (label, x) in enumerate(rows):
        imgs = to_unit(x)
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if c < len(imgs):
                ax.imshow(imgs[c, 0], cmap="gray", vmin=0, vmax=1)
        axes[r][0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
