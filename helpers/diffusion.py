"""Stable Diffusion on 12 GB: pipelines, memory techniques, reproducible PNGs.

``load_pipeline`` loads a real pipeline or the tiny random one of the smoke profile
(``helpers.models.tiny_pipeline``, saved so it loads back with ``from_pretrained`` like a real
model); ``apply_technique`` switches on one memory technique by name; ``measure_techniques``
makes the table of peak memory and seconds per image. ``generate`` seeds every image and keeps
its settings, ``save_png`` writes them into the PNG's text chunks and ``read_png`` reads them back.
Teaching the UNet a style with LoRA is in ``helpers.sd_lora``. diffusers is imported inside functions.

Taught in week 8 (08a-text-to-image); used again in 08b.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from helpers.presets import GIB

TECHNIQUES = {
    "fp32": "full precision, every component on the GPU (the baseline)",
    "half": "16-bit weights and activations (fp16 on CUDA, bf16 on CPU)",
    "half+no_sdpa": "16-bit, with PyTorch's fused attention (SDPA) switched off: what SDPA saves",
    "half+attention_slicing": "16-bit, attention computed a few heads at a time",
    "half+vae_slicing": "16-bit, the VAE decodes one image of the batch at a time",
    "half+vae_tiling": "16-bit, the VAE decodes in overlapping tiles (only latents larger than its tile: SD 1.5 > 512 px)",
    "half+model_cpu_offload": "16-bit, each whole model moves to the GPU only while it runs",
    "half+sequential_cpu_offload": "16-bit, each layer moves to the GPU only while it runs",
}
SCHEDULERS = {
    "DDIM": "DDIMScheduler", "PNDM": "PNDMScheduler", "Euler": "EulerDiscreteScheduler",
    "Euler a": "EulerAncestralDiscreteScheduler", "DPM++ 2M": "DPMSolverMultistepScheduler",
    "UniPC": "UniPCMultistepScheduler",
}


def quiet() -> None:
    """Silence load/save progress bars and info chatter from diffusers and transformers."""
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def load_pipeline(model: str | Path, dtype: torch.dtype = torch.float32, device: str | torch.device | None = None,
                  variant: str | None = None) -> Any:
    """Load a text-to-image pipeline (hub id or local folder) without the safety checker, on ``device``."""
    from diffusers import AutoPipelineForText2Image, DiffusionPipeline

    quiet()
    config = DiffusionPipeline.load_config(str(model))
    extra = {"safety_checker": None, "requires_safety_checker": False} if "safety_checker" in config else {}
    try:
        pipe = AutoPipelineForText2Image.from_pretrained(str(model), dtype=dtype, variant=variant, **extra)
    except (OSError, ValueError) as err:
        if variant is None or "variant" not in str(err):
            raise
        pipe = AutoPipelineForText2Image.from_pretrained(str(model), dtype=dtype, **extra)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device) if device is not None else pipe


def apply_technique(pipe: Any, name: str, device: str | torch.device) -> str | None:
    """Switch on the memory technique ``name`` (see TECHNIQUES); return why it was skipped, or None."""
    if name not in TECHNIQUES:
        raise ValueError(f"Unknown technique {name!r}: use one of {', '.join(TECHNIQUES)}.")
    extra = name.split("+", 1)[1] if "+" in name else ""
    cuda = torch.device(device).type == "cuda"
    if extra.endswith("cpu_offload"):
        if not cuda:
            return "needs a CUDA GPU (it moves weights between CPU and GPU)"
        getattr(pipe, f"enable_{extra}")(device=device)
        return None
    pipe.to(device)
    if extra == "no_sdpa":
        from diffusers.models.attention_processor import AttnProcessor

        pipe.unet.set_attn_processor(AttnProcessor())
        pipe.vae.set_attn_processor(AttnProcessor())
    elif extra == "attention_slicing":
        pipe.enable_attention_slicing()
    elif extra == "vae_slicing":
        pipe.vae.enable_slicing()
    elif extra == "vae_tiling":
        pipe.vae.enable_tiling()
    return None


def generate(pipe: Any, prompt: str | list[str], *, seed: int = 0, steps: int = 25, guidance: float = 7.5,
             size: int | tuple[int, int] | None = None, negative_prompt: str | None = None, **kwargs: Any) -> list:
    """Make images with a seeded CPU generator; each keeps its settings in ``image.info``."""
    if size is not None:  # image-to-image takes its size from the input image instead
        kwargs["width"], kwargs["height"] = (size, size) if isinstance(size, int) else size
    generator = torch.Generator("cpu").manual_seed(seed)
    pipe.set_progress_bar_config(disable=True)  # our own loops show progress instead
    images = pipe(prompt, num_inference_steps=steps, guidance_scale=guidance, negative_prompt=negative_prompt,
                  generator=generator, **kwargs).images
    meta = {"prompt": prompt if isinstance(prompt, str) else " | ".join(prompt), "seed": seed, "steps": steps,
            "guidance": guidance, "negative_prompt": negative_prompt or "", "scheduler": type(pipe.scheduler).__name__,
            "model": str(getattr(pipe, "name_or_path", None) or pipe.config.get("_name_or_path", "")),
            "size": f"{images[0].width}x{images[0].height}"}
    if "strength" in kwargs:
        meta["strength"] = kwargs["strength"]
    for image in images:
        image.info.update({k: str(v) for k, v in meta.items()})
    return images


def use_scheduler(pipe: Any, name: str) -> Any:
    """Swap the pipeline's scheduler for one named in SCHEDULERS, keeping the model's settings."""
    import diffusers

    if name not in SCHEDULERS:
        raise ValueError(f"Unknown scheduler {name!r}: use one of {', '.join(SCHEDULERS)}.")
    pipe.scheduler = getattr(diffusers, SCHEDULERS[name]).from_config(pipe.scheduler.config)
    return pipe


PNG_KEYS = ("prompt", "negative_prompt", "seed", "steps", "guidance", "scheduler", "model", "size", "strength")


def save_png(image: Any, path: str | Path, **meta: Any) -> Path:
    """Save a PNG with its prompt, seed, steps, model... as text chunks (from image.info plus ``meta``)."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    fields = {k: v for k, v in image.info.items() if k in PNG_KEYS} | {k: str(v) for k, v in meta.items()}
    for key, value in fields.items():
        info.add_text(key, str(value))
    info.add_text("parameters", json.dumps(fields))  # one JSON chunk too, for tools that read a single field
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, pnginfo=info)
    return path


def read_png(path: str | Path) -> dict[str, Any]:
    """Read the settings saved by :func:`save_png`; seed and steps come back as int, guidance as float."""
    from PIL import Image

    with Image.open(path) as img:
        text = dict(img.text)
    text.pop("parameters", None)
    for key, kind in (("seed", int), ("steps", int), ("guidance", float), ("strength", float)):
        if key in text:
            text[key] = kind(text[key])
    return text


def pixel_difference(a: Any, b: Any) -> float:
    """Mean absolute difference of two images' pixels, 0-255 (0.0 means identical)."""
    import numpy as np

    return float(np.abs(np.asarray(a, dtype=np.float32) - np.asarray(b, dtype=np.float32)).mean())


def component_gib(pipe: Any) -> dict[str, float]:
    """GiB of weights in each model of the pipeline, at the dtype it is loaded in."""
    out = {}
    for name, module in pipe.components.items():
        if isinstance(module, torch.nn.Module):
            out[name] = sum(p.numel() * p.element_size() for p in module.parameters()) / GIB
    return out


def planner_gib(pipe: Any, technique: str) -> float | None:
    """The planner's (helpers.planner) GiB of weights on the GPU for this pipeline and technique, if available."""
    try:
        from helpers import planner
    except ImportError:  # the planner is optional here: the table just loses its column
        return None
    bits = 32 if technique == "fp32" else 16
    sizes = [planner.estimate({"_name": name, "_class_name": type(module).__name__,
                               "_params": sum(p.numel() for p in module.parameters())}, bits=bits).components["weights"]
             for name, module in pipe.components.items() if isinstance(module, torch.nn.Module)]
    if technique.endswith("sequential_cpu_offload"):
        return 0.0  # one layer at a time: a few MB
    if technique.endswith("model_cpu_offload"):
        return max(sizes) / GIB  # the largest model (the UNet) while it denoises
    return sum(sizes) / GIB


def measure_techniques(model: str | Path, techniques: Sequence[str], prompt: str, *, device: str | torch.device,
                       size: int, steps: int, batch: int = 1, variant: str | None = None) -> list[dict[str, Any]]:
    """Load one pipeline at a time per technique, make ``batch`` images, measure memory and seconds per image.

    ``resident_gib`` is what the pipeline holds when generation starts (its weights on the GPU), ``rise_gib``
    the increase above it while the images are made (activations, offloaded weights moving in), ``peak_gib``
    their sum. Only one pipeline is alive at a time: the previous row's is freed before the next loads.
    """
    from tqdm.auto import tqdm

    from helpers.gpu import precision
    from helpers.vram import free_cached, is_oom, track_peak

    cuda = torch.device(device).type == "cuda"
    release = free_cached if cuda else (lambda: None)  # on a CPU a full garbage collection costs seconds, frees no VRAM
    rows = []
    for name in tqdm(techniques, desc=f"techniques at {size}px, batch {batch}"):
        dtype = torch.float32 if name == "fp32" else precision(device).half
        row: dict[str, Any] = {"technique": name, "size": size, "batch": batch, "dtype": str(dtype).replace("torch.", "")}
        if name.endswith("cpu_offload") and not cuda:
            rows.append(row | {"note": "skipped: needs a CUDA GPU (it moves weights between CPU and GPU)"})
            continue
        pipe = load_pipeline(model, dtype=dtype, variant=variant)
        apply_technique(pipe, name, device)
        try:
            generate(pipe, prompt, seed=0, steps=1, size=size)  # warm-up: kernels, caches, offload hooks
            release()
            with track_peak(device) as peak:
                start = time.perf_counter()
                images = generate(pipe, [prompt] * batch, seed=0, steps=steps, size=size)
                seconds = time.perf_counter() - start
        except Exception as err:  # noqa: BLE001 - an out-of-memory row is a result; anything else is re-raised
            if not is_oom(err):
                raise
            rows.append(row | {"note": "out of memory"})
            del pipe, err
            release()
            continue
        row |= {"resident_gib": round(peak.start / GIB, 3), "rise_gib": round(peak.delta / GIB, 3),
                "peak_gib": round(peak.peak / GIB, 3), "s_per_image": round(seconds / batch, 3)}
        planned = planner_gib(pipe, name)
        if planned is not None:
            row["planner_weights_gib"] = round(planned, 3)
        row["note"] = f"{len(images)} image(s) of {images[0].width}x{images[0].height}"
        rows.append(row)
        del pipe, images
        release()
    return rows
