"""How long each notebook's CPU rung takes on this CPU, timed on a random-weight replica of its model (no download).

``python -m benchmarks.cpu_rungs [NOTEBOOK ...] [--json] [--threads N]``

A notebook's CPU rung (the last rung of its ladder in ``helpers.ladders``) runs a small real model on a laptop CPU.
The minutes it states come from here: the model's architecture is rebuilt from its preset config with random
weights (``helpers.planner_check.build``), saved and loaded back as the notebook loads the real one, and each piece
of the rung's workload is timed (a load, a generated token, a prompt pass, a training step, a merge), then added up
with the counts the notebook runs, read from the rung's settings. Random weights never stop an answer early (every
answer runs to its token limit) and every training batch is timed at the full length, so the sum is an upper bound
on the work. First downloads are not included: the syllabus states them at 100 Mbit/s.

The clock is the process's CPU time (``time.process_time``) on one thread by default: on a shared machine other
users' load does not count (wall-clock timings here varied twentyfold with it), and more cores only make a
laptop faster, so the stated minutes are what one core needs. Reading the weights from disk is not CPU time.

``REGISTRY`` maps a notebook id prefix to one function returning ``{"parts": {what: seconds}, ...}`` (weeks 6-7's
live in ``benchmarks.cpu_rungs_llm``: keep this module under 400 lines the same way); add a
notebook (the extras) with one function and one line there. 08a's replica is a diffusers pipeline built from
sd-turbo's configs (``SD_TURBO``), saved as the fp16 files the notebook downloads and loaded back in fp32.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

CHAT_PROMPT_TOKENS = 40  # a chat prompt with its template, about what the notebooks' prompts are


def cpu_rung(notebook: str) -> Any:
    """The CPU rung of a notebook's ladder."""
    from helpers import ladders

    rung = next((r for r in ladders.ladder(notebook) if r.cpu), None)
    if rung is None:
        raise ValueError(f"{notebook} has no CPU rung in helpers.ladders")
    return rung


def _clock() -> Callable[[], float]:
    """Seconds of this process's CPU time since the call (all its threads: use one thread for one core's time)."""
    start = time.process_time()
    return lambda: time.process_time() - start


def _replica_dir(preset: str, folder: str) -> tuple[str, float]:
    """Save a random-weight fp32 replica of ``preset`` in ``folder``; return (folder, seconds to build and save)."""
    import torch

    from helpers import planner_check

    took = _clock()
    net = planner_check.build(preset, device="cpu", dtype=torch.float32)
    net.save_pretrained(folder)
    del net
    return folder, took()


def _load(folder: str, quant: str | None) -> tuple[Any, float]:
    """Load a saved replica as the notebook loads its model (fp32 on the CPU, or 4-bit/8-bit); return (model, s)."""
    import torch
    from transformers import AutoModelForCausalLM

    from helpers import llm

    took = _clock()
    config = llm.quant_config(quant, compute_dtype=torch.float32)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, quantization_config=config,
                                                 device_map={"": "cpu"} if config is not None else None)
    model.eval()
    return model, took()


def _seconds_per_token(model: Any, tokens: int = 12, batch: int = 1) -> float:
    """Seconds a decode step of ``batch`` sequences takes after the prompt pass (greedy, forced to ``tokens`` tokens)."""
    import torch

    ids = torch.randint(0, model.config.vocab_size, (batch, CHAT_PROMPT_TOKENS),
                        generator=torch.Generator().manual_seed(batch - 1))
    with torch.inference_mode():
        if batch == 1:
            model.generate(input_ids=ids, max_new_tokens=2, min_new_tokens=2, do_sample=False, pad_token_id=0)  # warm-up
        one = _clock()
        model.generate(input_ids=ids, max_new_tokens=1, min_new_tokens=1, do_sample=False, pad_token_id=0)
        prefill = one()
        many = _clock()
        model.generate(input_ids=ids, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False, pad_token_id=0)
        return max(many() - prefill, 0.0) / (tokens - 1)


def _prefill_seconds(model: Any, tokens: int, batch: int = 1) -> float:
    """Seconds of one prompt pass over ``batch`` x ``tokens`` tokens, keeping the cache (as the KV sweep does)."""
    import torch

    ids = torch.randint(0, model.config.vocab_size, (batch, tokens), generator=torch.Generator().manual_seed(tokens))
    took = _clock()
    with torch.inference_mode():
        out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
    del out
    return took()


def time_e6(threads: int) -> dict[str, Any]:
    """e6's CPU rung: the server's answers, the forced-length latency sweep, streaming, the queue and the batch."""
    from helpers import llm

    rung = cpu_rung("e6")
    s = rung.settings
    preset = llm.PLANNER_PRESETS[s["model"]]
    new, users = s["max_tokens"], s["concurrent"]
    sweep = sorted({max(2, new // k) for k in (8, 4, 2, 1)})
    parts: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="cpu-rung-e6-") as folder:
        parts["build the replica (stands in for reading the download)"] = _replica_dir(preset, folder)[1]
        model, parts["load in fp32"] = _load(folder, None)
        _seconds_per_token(model, 3)  # warm-up
        per_token, short = _seconds_per_token(model), _prefill_seconds(model, CHAT_PROMPT_TOKENS)
        parts[f"section 3: one answer over HTTP and one direct call, {new} tokens each"] = 2 * (short + new * per_token)
        parts[f"section 4: 2 requests of each of {sweep} tokens, forced"] = 2 * (len(sweep) * short
                                                                                 + sum(sweep) * per_token)
        parts[f"section 5: one streamed answer of {new} tokens"] = short + new * per_token
        parts[f"section 6: {users} requests in line and {users} prompts one by one"] = 2 * users * (short + new * per_token)
        step = _seconds_per_token(model, 8, batch=users)
        parts[f"section 6: one batch of {users} prompts, {new} steps"] = _prefill_seconds(model, CHAT_PROMPT_TOKENS, users) \
            + new * step
        del model
    return {"rung": rung.name, "model": s["model"], "parts": parts,
            "counts": {"max_tokens": new, "concurrent": users, "sweep": sweep}}


def _llava_interleave_replica() -> Any:
    """A random-weight LLaVA-Interleave-Qwen-0.5B in fp32: SigLIP-so400m at 384 px (26 layers, as transformers'
    convert_llava_weights_to_hf.py builds it) and Qwen1.5-0.5B-Chat's language model, from their configs."""
    import torch
    from transformers import LlavaConfig, LlavaForConditionalGeneration, Qwen2Config, SiglipVisionConfig

    vision = SiglipVisionConfig(hidden_size=1152, image_size=384, intermediate_size=4304, num_attention_heads=16,
                                num_hidden_layers=26, patch_size=14, vision_use_head=False)
    text = Qwen2Config(vocab_size=152000, hidden_size=1024, intermediate_size=2816, num_hidden_layers=24,
                       num_attention_heads=16, num_key_value_heads=16, max_position_embeddings=32768,
                       tie_word_embeddings=True)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=151646, image_seq_length=729,
                         vision_feature_layer=-1, vision_feature_select_strategy="full")
    torch.manual_seed(0)
    return LlavaForConditionalGeneration(config).eval()


def time_e3(threads: int) -> dict[str, Any]:
    """e3's CPU rung: the splice of section 4 (three passes), then four answers about the photos (sections 5-6)."""
    import torch

    rung = cpu_rung("e3")
    new, answers = rung.settings["max_new_tokens"], 4
    parts: dict[str, float] = {}
    took = _clock()
    model = _llava_interleave_replica()
    parts["build the replica (stands in for loading the download)"] = took()
    cfg = model.config
    patches, size = cfg.image_seq_length, cfg.vision_config.image_size
    text = torch.randint(0, cfg.text_config.vocab_size, (1, 30), generator=torch.Generator().manual_seed(0))
    text[text == cfg.image_token_index] = 0  # only the image's own placeholders
    ids = torch.cat([text[:, :10], torch.full((1, patches), cfg.image_token_index), text[:, 10:]], dim=1)
    pixels = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "pixel_values": pixels}
    with torch.inference_mode():
        vision = _clock()
        model.model.vision_tower(pixels, output_hidden_states=True)
        vision_s = vision()
        full = _clock()
        model(**inputs)  # every position's logits, as section 4 asks for them
        full_s = full()
        one = _clock()
        model.generate(**inputs, max_new_tokens=1, min_new_tokens=1, do_sample=False, pad_token_id=0)
        first_s = one()
        many = _clock()
        model.generate(**inputs, max_new_tokens=8, min_new_tokens=8, do_sample=False, pad_token_id=0)
        per_token = max(many() - first_s, 0.0) / 7
    parts["section 4: the vision tower and projector, by hand"] = vision_s
    parts["section 4: the language model on the spliced prompt, and the model's own pass"] = 2 * full_s - vision_s
    parts[f"sections 5-6: {answers} answers of {new} tokens ({ids.shape[1]}-token prompts)"] = answers * (
        first_s + (new - 1) * per_token)
    del model
    return {"rung": rung.name, "model": "llava-hf/llava-interleave-qwen-0.5b-hf", "parts": parts,
            "counts": {"prompt_tokens": ids.shape[1], "answers": answers, "new_tokens": new}}

# stabilityai/sd-turbo (Stability AI Community License), written down from its unet/, text_encoder/ and vae/
# config.json: Stable Diffusion 2.1 distilled to one step (its model card), so the architecture of
# stabilityai/stable-diffusion-2-1-base: an 866 M-parameter UNet with linear projections and 1,024-wide
# cross-attention, OpenCLIP ViT-H's text tower as a 23-layer CLIPTextModel (340 M), the SD VAE (84 M). Check them
# against the files when 08a's CPU rung changes model.
SD_TURBO = {
    "unet": dict(sample_size=64, in_channels=4, out_channels=4, act_fn="silu", attention_head_dim=(5, 10, 20, 20),
                 block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=1024, layers_per_block=2,
                 down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                 up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, norm_num_groups=32, norm_eps=1e-5,
                 flip_sin_to_cos=True, freq_shift=0, downsample_padding=1, use_linear_projection=True),
    "text_encoder": dict(vocab_size=49408, hidden_size=1024, intermediate_size=4096, num_hidden_layers=23,
                         num_attention_heads=16, max_position_embeddings=77, hidden_act="gelu", projection_dim=512,
                         layer_norm_eps=1e-5, bos_token_id=0, eos_token_id=2, pad_token_id=1),
    "vae": dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(128, 256, 512, 512),
                down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                layers_per_block=2, norm_num_groups=32, act_fn="silu", sample_size=768),
    "scheduler": dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="trailing",
                      prediction_type="epsilon", num_train_timesteps=1000, steps_offset=1),
}


def _sd_turbo_models(device: str = "cpu") -> dict[str, Any]:
    """sd-turbo's UNet, VAE and text encoder with random weights, built from SD_TURBO."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    with torch.device(device):
        return {"unet": UNet2DConditionModel(**SD_TURBO["unet"]), "vae": AutoencoderKL(**SD_TURBO["vae"]),
                "text_encoder": CLIPTextModel(CLIPTextConfig(**SD_TURBO["text_encoder"]))}


def sd_turbo_params() -> dict[str, int]:
    """Parameter counts of the replica's models, built on the meta device (no memory)."""
    return {k: sum(p.numel() for p in net.parameters()) for k, net in _sd_turbo_models("meta").items()}


def _sd_turbo_replica(folder: str) -> float:
    """Save a random-weight replica of sd-turbo in ``folder`` as fp16 files (what 08a downloads); return seconds."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline

    from helpers import models

    took = _clock()
    pipe = StableDiffusionPipeline(
        **_sd_turbo_models(), tokenizer=models.tiny_tokenizer(),  # token ids only: the cost does not depend on them
        scheduler=EulerDiscreteScheduler(**SD_TURBO["scheduler"]), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False)
    pipe.to(torch.float16).save_pretrained(folder, variant="fp16")
    del pipe
    return took()


def _08a_counts(s: dict[str, Any]) -> dict[str, int]:
    """What 08a's sections 2-8 make on its CPU rung: VAE decodes (one per image), UNet passes, VAE encodes.

    Section 9's tables measure GPU memory and are skipped on a CPU."""
    steps = s["steps"]
    i2i_steps = max(steps, math.ceil(1 / min(s["strengths"])))  # img2img runs int(steps x strength) steps
    guided = [2 if g > 1 else 1 for g in s["scales"]]  # guidance above 1 runs the UNet on 2 latents a step
    images = {  # section: (images, UNet passes)
        "first image": (1, steps), "seeds": (4, 4 * steps), "guidance": (len(guided), steps * sum(guided)),
        "steps": (len(s["step_list"]), sum(s["step_list"])), "negative prompt": (2, 2 * steps),
        "schedulers": (len(s["schedulers"]), len(s["schedulers"]) * steps),
        "image to image": (len(s["strengths"]), sum(int(i2i_steps * x) for x in s["strengths"])),
        "regenerate from the PNG": (1, steps), "batch with slicing": (s["batch"], s["batch"] * steps)}
    return {"decodes": sum(n for n, _ in images.values()), "unet": sum(u for _, u in images.values()),
            "encodes": len(s["strengths"])}


def time_08a(threads: int) -> dict[str, Any]:
    """08a's CPU rung: sd-turbo in fp32 at 512 px; a load, then the UNet passes, VAE decodes and encodes it runs."""
    import torch
    from diffusers import AutoPipelineForImage2Image, AutoPipelineForText2Image

    from helpers import diffusion

    rung = cpu_rung("08a")
    s = rung.settings
    size, counts = s["size"], _08a_counts(s)
    parts: dict[str, float] = {}
    diffusion.quiet()
    with tempfile.TemporaryDirectory(prefix="cpu-rung-08a-") as folder:
        parts["build the replica (stands in for reading the download)"] = _sd_turbo_replica(folder)
        load = _clock()
        pipe = AutoPipelineForText2Image.from_pretrained(folder, dtype=torch.float32, variant="fp16")
        pipe.set_progress_bar_config(disable=True)
        parts["load in fp32 (section 1)"] = load()

        def one(steps: int, **kwargs: Any) -> float:
            took = _clock()
            diffusion.generate(pipe, "a lighthouse", seed=0, steps=steps, guidance=0.0, size=size, **kwargs)
            return took()

        one(1)  # warm-up
        single, double = one(1), one(2)
        unet = max(double - single, 0.0)
        start = diffusion.generate(pipe, "a lighthouse", seed=0, steps=1, guidance=0.0, size=size)[0]
        img2img = AutoPipelineForImage2Image.from_pipe(pipe)
        took = _clock()
        diffusion.generate(img2img, "a lighthouse", seed=0, steps=2, guidance=0.0, image=start, strength=0.5)
        encode = max(took() - single, 0.0)  # one UNet step, a decode and a prompt pass (as `single`), plus the encode
        decode_and_text = max(single - unet, 0.0)
        parts[f"{counts['unet']} UNet passes at {size} px ({unet:.1f} s each)"] = counts["unet"] * unet
        parts[f"{counts['decodes']} VAE decodes and prompt passes ({decode_and_text:.1f} s each)"] = \
            counts["decodes"] * decode_and_text
        parts[f"{counts['encodes']} VAE encodes for image to image ({encode:.1f} s each)"] = counts["encodes"] * encode
    return {"rung": rung.name, "model": s["model"], "parts": parts, "counts": counts}


from benchmarks.cpu_rungs_llm import time_06a, time_07a  # noqa: E402 - they use the helpers above

REGISTRY: dict[str, Callable[[int], dict[str, Any]]] = {"06a": time_06a, "07a": time_07a, "e3": time_e3, "e6": time_e6,
                                                       "08a": time_08a}


def measure(notebook: str, threads: int) -> dict[str, Any]:
    """Time one notebook's CPU rung (CPU seconds); add the total in seconds and in whole minutes (rounded up)."""
    import torch

    key = notebook.split("-", 1)[0]
    if key not in REGISTRY:
        raise SystemExit(f"no CPU-rung timing for {notebook}; registered: {', '.join(REGISTRY)}")
    torch.set_num_threads(threads)
    took = _clock()
    result = REGISTRY[key](threads)
    total = sum(result["parts"].values())
    rung = cpu_rung(key)
    return {"notebook": key, **result, "seconds": round(total, 1), "minutes": math.ceil(total / 60),
            "stated_minutes": rung.minutes, "benchmark_wall_s": round(took(), 1),
            "parts": {k: round(v, 1) for k, v in result["parts"].items()}}


def main(argv: list[str] | None = None) -> int:
    """CLI: time the CPU rungs of the named notebooks (default: every registered one); print a table or JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help=f"notebook ids or prefixes (default: {' '.join(REGISTRY)})")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1: one core's CPU time)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    rows = [measure(nb, args.threads) for nb in (args.notebooks or list(REGISTRY))]
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "threads": args.threads}
    if args.json:
        print(json.dumps({"machine": machine, "rungs": rows}, indent=2))
        return 0
    for r in rows:
        print(f"{r['notebook']} {r['rung']} ({r['model']}): {r['seconds']:.0f} s of CPU time on {machine['threads']} "
              f"thread(s), at most {r['minutes']} min (the rung states {r['stated_minutes']})")
        for what, seconds in r["parts"].items():
            print(f"    {seconds:8.1f} s  {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
