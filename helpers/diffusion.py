"""Stable Diffusion on 12 GB: pipelines, memory techniques, reproducible PNGs.

``load_pipeline`` loads a real pipeline or the tiny random one of the smoke profile
(``helpers.models.tiny_pipeline``, saved so it loads back with ``from_pretrained`` like a real
model); ``apply_technique`` switches on one memory technique by name; ``measure_techniques``
makes the table of peak memory and seconds per image. ``generate`` seeds every image and keeps
its settings, ``save_png`` writes them into the PNG's text chunks and ``read_png`` reads them back.
Teaching the UNet a style with LoRA is in ``helpers.sd_lora``. diffusers is imported inside functions.
``need_gib`` is the measured rule behind 08a's ladder (``helpers.ladders``): the planner's weights plus activations
measured on a CPU (``activation_peak_gib`` on random-weight replicas), with a stated allowance for the GPU.

Taught in week 8 (08a-text-to-image); used again in 08b.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
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
    their sum. Only one pipeline is alive at a time: the previous row's is freed before the next loads. A row that
    runs out of memory, while its weights move to the GPU or while it generates, is a result ("out of memory").
    """
    from tqdm.auto import tqdm

    from helpers.gpu import precision
    from helpers.vram import free_cached, is_oom, track_peak

    cuda = torch.device(device).type == "cuda"
    rows = []
    for name in tqdm(techniques, desc=f"techniques at {size}px, batch {batch}"):
        dtype = torch.float32 if name == "fp32" else precision(device).half
        row: dict[str, Any] = {"technique": name, "size": size, "batch": batch, "dtype": str(dtype).replace("torch.", "")}
        if name.endswith("cpu_offload") and not cuda:
            rows.append(row | {"note": "skipped: needs a CUDA GPU (it moves weights between CPU and GPU)"})
            continue
        pipe, oom = None, False
        try:  # the move to the GPU is inside the guard too: SDXL's fp32 weights alone are 12.9 GiB
            pipe = load_pipeline(model, dtype=dtype, variant=variant)
            apply_technique(pipe, name, device)
            generate(pipe, prompt, seed=0, steps=1, size=size)  # warm-up: kernels, caches, offload hooks
            free_cached()
            with track_peak(device) as peak:
                start = time.perf_counter()
                images = generate(pipe, [prompt] * batch, seed=0, steps=steps, size=size)
                seconds = time.perf_counter() - start
        except Exception as err:  # noqa: BLE001 - an out-of-memory row is a result; anything else is re-raised
            if not is_oom(err):
                raise
            oom = True
        if oom:  # out of the except block: the exception's traceback no longer holds the half-moved pipeline
            rows.append(row | {"note": "out of memory"})
            pipe = None
            free_cached()
            continue
        row |= {"resident_gib": round(peak.start / GIB, 3), "rise_gib": round(peak.delta / GIB, 3),
                "peak_gib": round(peak.peak / GIB, 3), "s_per_image": round(seconds / batch, 3)}
        planned = planner_gib(pipe, name)
        if planned is not None:
            row["planner_weights_gib"] = round(planned, 3)
        row["note"] = f"{len(images)} image(s) of {images[0].width}x{images[0].height}"
        rows.append(row)
        del pipe, images
        free_cached()
    return rows


# ------------------------------------------------------------------ what a rung needs: the measured rule of 08a/08b
# The planner models a diffusers pipeline's weights, not its activations. These are the activation peaks of ONE image
# at 512 px, measured on a CPU with activation_peak_gib on random-weight replicas of SD 1.5 built from
# helpers/presets (sd15-unet, sd15-vae; fp32, SDPA attention, diffusers 0.42, torch 2.14): the UNet's pass with
# guidance (2 latents), the VAE decoder, and one LoRA training step of 08b (r 8 on to_q/k/v/out.0, forward + backward),
# without and with gradient checkpointing. They scale with the pixels and the batch, and halve in 16 bits.
MEASURED_GIB = {"unet_cfg": 0.254, "vae_decode": 0.750, "train": 1.517, "train_checkpointed": 0.392}
GPU_FACTOR = 1.5  # allowance, not measured: CUDA kernels' choices and the caching allocator's rounding vs the CPU
GPU_FIXED_GIB = 0.3  # allowance, not measured: cuBLAS/cuDNN workspaces, latents, text embeddings
PIPELINES = {  # hub id -> the planner presets of its models (the largest first)
    "stable-diffusion-v1-5/stable-diffusion-v1-5": ("sd15-unet", "sd15-vae", "sd15-text-encoder"),
    "stabilityai/stable-diffusion-xl-base-1.0": ("sdxl-unet", "sdxl-vae", "sdxl-text-encoder", "sdxl-text-encoder-2"),
}


def activation_peak_gib(fn: Callable[[], Any]) -> float:
    """GiB of tensors that ``fn()`` holds at its peak beyond what was alive before, measured on the CPU.

    PyTorch's profiler records every CPU allocation and free; their running sum, in time order, peaks where the
    call holds the most. Run the call on CPU tensors (a GPU's kernels and allocator add their own share on top).
    """
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    live = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        live += event.cpu_memory_usage if event.name == "[memory]" else event.self_cpu_memory_usage
        peak = max(peak, live)
    return peak / GIB


def weights_gib(model: str, bits: int = 16) -> dict[str, float]:
    """The planner's GiB of weights for each model of a pipeline in PIPELINES, at ``bits`` (16 or 32)."""
    from helpers import planner

    return {name: planner.estimate(name, bits=bits).components["weights"] / GIB for name in PIPELINES[model]}


def _need(weights: float, activations: float) -> float:
    return weights + GPU_FACTOR * activations + GPU_FIXED_GIB


def _row_gib(model: str, technique: str, size: int, batch: int, sdxl: bool) -> float:
    """The rule for one row: weights resident on the GPU plus the larger of the UNet's and the VAE's activations."""
    bits = 32 if technique == "fp32" else 16
    w = weights_gib(model, bits)
    unet_w, vae_w = w[PIPELINES[model][0]], w[PIPELINES[model][1]]
    pixels = (size / 512) ** 2
    unet = MEASURED_GIB["unet_cfg"] * pixels * batch * bits / 32
    vae_bits = 32 if sdxl else bits  # SDXL's VAE overflows in fp16: diffusers decodes it in fp32 on fp16 GPUs
    vae_one = MEASURED_GIB["vae_decode"] * vae_bits / 32
    tile = 1024 if sdxl else 512  # the VAE's sample_size: tiling splits only larger images
    vae = vae_one * (min(pixels, (tile / 512) ** 2) if technique.endswith("vae_tiling") else pixels)
    vae *= 1 if technique.endswith("vae_slicing") else batch
    extra_vae_w = vae_w if sdxl and bits == 16 else 0.0  # the fp32 copy of SDXL's VAE
    if technique.endswith("no_sdpa"):  # the full attention matrices: scores and softmax, 2 latents with guidance
        tokens, heads = ((size // 16) ** 2, 10) if sdxl else ((size // 8) ** 2, 8)  # the largest self-attention
        unet += 2 * 2 * batch * heads * tokens**2 * (bits // 8) / GIB
        vae += 2 * (size // 8) ** 4 * (bits // 8) / GIB  # the VAE's one-head attention at latent resolution
    if technique.endswith("sequential_cpu_offload"):
        return _need(0.1, max(unet, vae))  # one layer at a time on the GPU
    if technique.endswith("model_cpu_offload"):
        return max(_need(unet_w, unet), _need(vae_w + extra_vae_w, vae), _need(max(w.values()), 0.0))
    return _need(sum(w.values()) + extra_vae_w, max(unet, vae))


def need_gib(settings: dict[str, Any]) -> float:
    """GiB of free VRAM (beyond the CUDA context) 08a's full profile needs with a rung's settings: its heaviest row.

    The rows: sections 2-8 in 16 bits (with model CPU offload if ``settings["offload"]``), the one-image table's
    ``techniques`` at ``size``, the batch table (16-bit, with and without VAE slicing) if ``batch`` > 1, and the
    ``big`` table (16-bit, with and without VAE tiling) at twice the size if ``big``. Each row: the planner's weights
    on the GPU + GPU_FACTOR x the activations measured on a CPU (MEASURED_GIB, scaled) + GPU_FIXED_GIB. An estimate:
    08a's section 9 measures every row on the learner's GPU.
    """
    model = settings.get("model", "stable-diffusion-v1-5/stable-diffusion-v1-5")  # the SD 1.5 rungs name none
    size, batch = settings["size"], settings.get("batch", 1)
    sdxl = "xl" in model
    first = "half+model_cpu_offload" if settings.get("offload") else "half+attention_slicing"
    rows = [(first, size, 1), (first.replace("attention_slicing", "vae_slicing"), size, batch)]
    rows += [(t, size, 1) for t in settings.get("techniques", ())]
    if batch > 1:
        rows += [("half", size, batch), ("half+vae_slicing", size, batch)]
    if settings.get("big"):
        rows += [("half", 2 * size, 1), ("half+vae_tiling", 2 * size, 1)]
    return round(max(_row_gib(model, t, s, b, sdxl) for t, s, b in rows), 2)
