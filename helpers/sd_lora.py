"""Teach Stable Diffusion a style with LoRA, the way diffusers' train_text_to_image_lora.py does.

``style_images`` draws a small captioned set in one style (or ``load_images`` reads your own
folder or a Hub dataset); ``encode_examples`` turns images and captions into latents and text
embeddings once; ``train_unet_lora`` trains with the usual noise-prediction loss; ``eval_loss`` measures it on
fixed noise, so before and after compare fairly; ``save_unet_lora`` writes the adapter in the
format ``pipe.load_lora_weights`` reads. Pipelines come from ``helpers.diffusion``. ``need_gib`` is the measured
rule behind 08b's ladder (``helpers.ladders``).

Taught in week 8 (08b-teach-it-a-style).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from helpers.gpu import Precision
from helpers.gpu import precision as gpu_precision

PALETTE = ((230, 57, 70), (29, 53, 87), (252, 191, 73), (42, 157, 143), (244, 162, 97), (69, 123, 157))
COLOUR_NAMES = ("red", "navy", "yellow", "teal", "orange", "blue")


def style_images(n: int, size: int, seed: int = 0, trigger: str = "sks") -> tuple[list, list[str]]:
    """Make ``n`` images in one flat, bold style (shapes with thick outlines) and a caption for each."""
    import random

    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    images, captions = [], []
    for _ in range(n):
        bg = rng.randrange(len(PALETTE))
        img = Image.new("RGB", (size, size), (241, 233, 218))
        draw = ImageDraw.Draw(img)
        draw.rectangle([0, int(size * 0.7), size, size], fill=PALETTE[bg])
        names = []
        for _ in range(rng.randint(2, 4)):
            colour = rng.randrange(len(PALETTE))
            kind = rng.choice(("circle", "square", "triangle"))
            r = rng.uniform(0.12, 0.25) * size
            x, y = rng.uniform(r, size - r), rng.uniform(r, size - r)
            box = [x - r, y - r, x + r, y + r]
            style = {"fill": PALETTE[colour], "outline": (20, 20, 20), "width": max(2, size // 48)}
            if kind == "circle":
                draw.ellipse(box, **style)
            elif kind == "square":
                draw.rectangle(box, **style)
            else:
                draw.polygon([(x, y - r), (x + r, y + r), (x - r, y + r)], **style)
            names.append(f"{'an' if COLOUR_NAMES[colour][0] in 'aeiou' else 'a'} {COLOUR_NAMES[colour]} {kind}")
        images.append(img)
        captions.append(f"a picture in {trigger} style of " + " and ".join(names))
    return images, captions


def load_images(source: str | Path, n: int, size: int, trigger: str = "sks", seed: int = 0) -> tuple[list, list[str]]:
    """Training images: "shapes" (made here), a folder of your own images, or "hf-dataset:ORG/NAME"."""
    from PIL import Image, ImageOps

    source = str(source)
    if source == "shapes":
        return style_images(n, size, seed=seed, trigger=trigger)
    if source.startswith("hf-dataset:"):
        from datasets import Image as ImageFeature
        from datasets import load_dataset

        ds = load_dataset(source.split(":", 1)[1], split="train")
        column = next((k for k, f in ds.features.items() if isinstance(f, ImageFeature)), None)
        if column is None:
            raise ValueError(f"{source} has no image column: pick a dataset with images, or a folder.")
        raw = [ds[i][column].convert("RGB") for i in range(min(n, len(ds)))]
    else:
        folder = Path(source).expanduser()
        files = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))
        if not files:
            raise FileNotFoundError(f"No .png/.jpg/.webp images in {folder}: put 5-20 images of one style there, "
                                    "or set IMAGES = \"shapes\".")
        raw = [Image.open(p).convert("RGB") for p in files[:n]]
    images = [ImageOps.fit(img, (size, size)) for img in raw]  # centre crop to a square, then resize
    return images, [f"a picture in {trigger} style"] * len(images)


@torch.no_grad()
def encode_examples(pipe: Any, images: Sequence[Any], captions: Sequence[str], chunk: int = 1) -> dict[str, torch.Tensor]:
    """Encode images to latent distributions (mean, std) and captions to text embeddings, once.

    The VAE encodes ``chunk`` images at a time: its activations for a dozen 512 px images at once would take more
    VRAM than the training step itself.
    """
    from torchvision.transforms.functional import pil_to_tensor

    dev, vae = pipe.unet.device, pipe.vae
    means, stds = [], []
    for i in range(0, len(images), chunk):
        pixels = torch.stack([pil_to_tensor(img) for img in images[i:i + chunk]]).to(dev, vae.dtype) / 127.5 - 1
        dist = vae.encode(pixels).latent_dist
        means.append(dist.mean)
        stds.append(dist.std)
    ids = pipe.tokenizer(list(captions), padding="max_length", truncation=True,
                         max_length=pipe.tokenizer.model_max_length, return_tensors="pt").input_ids.to(dev)
    return {"mean": torch.cat(means), "std": torch.cat(stds), "text": pipe.text_encoder(ids)[0]}


def _diffusion_loss(pipe: Any, noise_scheduler: Any, batch: dict[str, torch.Tensor], generator: torch.Generator,
                    timesteps: torch.Tensor | None = None, precision: Precision | None = None) -> torch.Tensor:
    """Noise the latents at random (or given) timesteps; MSE between the UNet's prediction and the target."""
    dev = pipe.unet.device
    eps = torch.randn(batch["mean"].shape, generator=generator).to(dev, batch["mean"].dtype)
    latents = (batch["mean"] + batch["std"] * eps) * pipe.vae.config.scaling_factor
    noise = torch.randn(latents.shape, generator=generator).to(dev, latents.dtype)
    if timesteps is None:
        timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (len(latents),), generator=generator)
    timesteps = timesteps.to(dev)
    noisy = noise_scheduler.add_noise(latents, noise, timesteps)
    if noise_scheduler.config.prediction_type == "v_prediction":
        target = noise_scheduler.get_velocity(latents, noise, timesteps)
    else:
        target = noise
    precision = precision or gpu_precision(dev)
    with torch.autocast(dev.type, dtype=precision.compute, enabled=precision.autocast):
        pred = pipe.unet(noisy, timesteps, batch["text"]).sample
    return torch.nn.functional.mse_loss(pred.float(), target.float())


@torch.no_grad()
def eval_loss(pipe: Any, examples: dict[str, torch.Tensor], seed: int = 0, n_timesteps: int = 8) -> float:
    """Diffusion loss at fixed noise and evenly spread timesteps: a steady yardstick before/after training."""
    from diffusers import DDPMScheduler

    sched = DDPMScheduler.from_config(pipe.scheduler.config)
    generator = torch.Generator("cpu").manual_seed(seed)
    total = 0.0
    for t in torch.linspace(50, sched.config.num_train_timesteps - 50, n_timesteps).long():
        ts = t.repeat(len(examples["mean"]))
        total += _diffusion_loss(pipe, sched, examples, generator, timesteps=ts).item()
    return total / n_timesteps


def train_unet_lora(pipe: Any, examples: dict[str, torch.Tensor], steps: int, lr: float = 1e-4,
                    batch_size: int = 1, seed: int = 0, checkpointing: bool = False,
                    precision: Precision | None = None, optimizer: torch.optim.Optimizer | None = None,
                    scaler: torch.amp.GradScaler | None = None) -> list[float]:
    """Train the UNet's LoRA adapter (AdamW, or ``optimizer``) on the encoded examples; return every step's loss.

    The step is the one week 8b writes out by hand: noise the latents, predict the noise, MSE, then
    backward through ``scaler`` (a GradScaler when ``precision`` says fp16), clip, step, zero the gradients.
    """
    from diffusers import DDPMScheduler
    from tqdm.auto import tqdm

    sched = DDPMScheduler.from_config(pipe.scheduler.config)
    params = [p for p in pipe.unet.parameters() if p.requires_grad]
    if not params:
        raise RuntimeError("The UNet has no trainable weights: add a LoRA adapter first (week 8b, section 2: "
                           "LoraConfig, pipe.unet.add_adapter, cast_training_params).")
    dev = pipe.unet.device
    precision = precision or gpu_precision(dev)
    optimizer = optimizer or torch.optim.AdamW(params, lr=lr, weight_decay=1e-2)
    scaler = scaler or torch.amp.GradScaler(dev.type, enabled=precision.scaler)
    if checkpointing:
        pipe.unet.enable_gradient_checkpointing()  # recompute activations in backward: less VRAM, ~20% slower
    pipe.unet.train()
    generator = torch.Generator("cpu").manual_seed(seed)
    n, losses = len(examples["mean"]), []
    bar = tqdm(range(steps), desc="LoRA steps")
    for _ in bar:
        idx = torch.randint(0, n, (min(batch_size, n),), generator=generator)
        batch = {k: v[idx.to(v.device)] for k, v in examples.items()}
        loss = _diffusion_loss(pipe, sched, batch, generator, precision=precision)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)  # so that clipping sees the true gradients
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        scaler.step(optimizer)  # skipped when a gradient overflowed; the scale then shrinks
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        bar.set_postfix(loss=f"{sum(losses[-10:]) / len(losses[-10:]):.4f}")
    pipe.unet.eval()
    return losses


def save_unet_lora(pipe: Any, folder: str | Path) -> Path:
    """Save only the LoRA weights (a few MB) in diffusers' format; load them with ``pipe.load_lora_weights``."""
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(pipe.unet))
    type(pipe).save_lora_weights(str(folder), unet_lora_layers=layers, safe_serialization=True)
    return Path(folder)


AUTOCAST_SHARE = 0.75  # estimate: under 16-bit autocast, GroupNorm and its neighbours still keep fp32 activations


def need_gib(settings: dict[str, Any]) -> float:
    """GiB of free VRAM (beyond the CUDA context) 08b's training needs at a rung's ``size``, ``batch`` and
    ``checkpointing``: the rule of ``helpers.diffusion.need_gib`` for a training step.

    SD 1.5's 16-bit weights (the planner) and the LoRA weights, gradients and AdamW state (rank 8, fp32: about
    0.02 GiB) + GPU_FACTOR x the activations of one training step measured on a CPU (fp32, 512 px, one image;
    ``diffusion.MEASURED_GIB``) x AUTOCAST_SHARE, scaled by the pixels and the batch + GPU_FIXED_GIB. The generation
    and encoding steps of 08b need less (one image at a time). An estimate: 08b measures the training peak.
    """
    from helpers import diffusion

    weights = sum(diffusion.weights_gib("stable-diffusion-v1-5/stable-diffusion-v1-5", 16).values()) + 0.02
    step = diffusion.MEASURED_GIB["train_checkpointed" if settings["checkpointing"] else "train"]
    activations = step * AUTOCAST_SHARE * settings["batch"] * (settings["size"] / 512) ** 2
    inference = diffusion.MEASURED_GIB["vae_decode"] / 2 * (settings["size"] / 512) ** 2
    return round(weights + diffusion.GPU_FACTOR * max(activations, inference) + diffusion.GPU_FIXED_GIB, 2)
