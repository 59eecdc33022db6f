"""Vision-language models (LLaVA-style): a vision encoder, a projection, and an LLM that reads both.

- ``sample_images()``: two real photos that ship with scikit-learn (no download).
- ``tiny_llava_dir()``: a tiny random ``LlavaForConditionalGeneration`` (CLIP vision tower, MLP
  projector, Llama text model) and its ``LlavaProcessor``, saved once for ``from_pretrained``:
  the smoke profile's stand-in for a real model of the same class.
- ``load_vlm(name_or_dir)`` -> (model, processor) through the Auto classes, like any Hub model.
- ``ask(model, processor, image, question)``: one answer, timed.
- ``image_embeddings(model, pixel_values)``: what the vision tower and the projector make of an image,
  step by step, so a notebook can show the projection into the LLM's embedding space.

Taught in extra e3 (e3-multimodal).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

IMAGE_TOKEN = "<image>"

# The LLaVA-1.5 conversation format ("USER: <image>\n... ASSISTANT:"), for the tiny model's processor.
LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ message['role'].upper() + ': ' }}"
    "{% if message['content'] is string %}{{ message['content'] + ' ' }}{% else %}"
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}{{ '<image>\n' }}{% endif %}{% endfor %}"
    "{% for item in message['content'] %}{% if item['type'] == 'text' %}{{ item['text'] + ' ' }}{% endif %}{% endfor %}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


def sample_images() -> dict[str, Any]:
    """Scikit-learn's two sample photos (a temple in China, a flower) as RGB PIL images."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    bunch = load_sample_images()
    names = [Path(f).stem for f in bunch.filenames]
    return {name: Image.fromarray(img).convert("RGB") for name, img in zip(names, bunch.images, strict=True)}


def build_tiny_llava(seed: int = 0, image_size: int = 32, patch_size: int = 8) -> tuple[Any, Any]:
    """A tiny random LLaVA model and its processor, built offline (a CLIP tower, a 2-layer projector, a Llama)."""
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    from helpers.models import build_tokenizer

    tok = build_tokenizer(style="llama")
    tok.add_tokens([IMAGE_TOKEN], special_tokens=True)
    tok.chat_template = LLAVA_CHAT_TEMPLATE
    # Layer widths are multiples of 64, which every bitsandbytes kernel accepts (see helpers.models.tiny_llama).
    vision = CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                              image_size=image_size, patch_size=patch_size, projection_dim=64)
    text = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=192, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=32, max_position_embeddings=512,
                       bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                       tie_word_embeddings=False, initializer_range=0.15)
    patches = (image_size // patch_size) ** 2
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=tok.convert_tokens_to_ids(IMAGE_TOKEN),
                         image_seq_length=patches, vision_feature_layer=-2, vision_feature_select_strategy="default",
                         projector_hidden_act="gelu")
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    image_processor = CLIPImageProcessor(size={"shortest_edge": image_size},
                                         crop_size={"height": image_size, "width": image_size})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tok, patch_size=patch_size,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1,
                               chat_template=LLAVA_CHAT_TEMPLATE)
    return model, processor


def tiny_llava_dir(path: str | os.PathLike | None = None, rebuild: bool = False) -> Path:
    """A folder with the tiny LLaVA model and processor, built once and reused (``from_pretrained`` loads it)."""
    from helpers.cache import build_once, data_dir

    folder = Path(path) if path is not None else data_dir("tiny-models") / "llava"
    if rebuild:
        shutil.rmtree(folder, ignore_errors=True)

    def build(tmp: Path) -> None:
        model, processor = build_tiny_llava()
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        n = sum(p.numel() for p in model.parameters())
        (tmp / "tiny-model.json").write_text(json.dumps({"kind": "llava", "parameters": n}))

    return build_once(folder, build, version=2)


def load_vlm(name_or_dir: Any, quant: str | None = None, device: Any = None) -> tuple[Any, Any]:
    """Load an image-text-to-text model and its processor (Hub id or folder); bf16 on a GPU, fp32 on a CPU."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from helpers.gpu import device as pick_device
    from helpers.gpu import precision
    from helpers.llm import quant_config

    dev = torch.device(device) if device is not None else pick_device()
    dtype = precision(dev).compute
    model = AutoModelForImageTextToText.from_pretrained(
        str(name_or_dir), dtype=dtype, quantization_config=quant_config(quant, compute_dtype=dtype),
        use_safetensors=True, device_map={"": dev.index or 0} if dev.type == "cuda" else None)
    if dev.type != "cuda" and quant is None:
        model = model.to(dev)
    model.eval()
    return model, AutoProcessor.from_pretrained(str(name_or_dir))


def encode(processor: Any, image: Any, question: str, device: Any = None) -> dict[str, Any]:
    """The model inputs (token ids with image placeholders, pixel values) for one image and one question."""
    messages = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": question}]}]
    inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                           return_tensors="pt")
    return {k: v.to(device) if device is not None and hasattr(v, "to") else v for k, v in inputs.items()}


def ask(model: Any, processor: Any, image: Any, question: str, max_new_tokens: int = 48) -> dict[str, Any]:
    """Answer a question about an image (greedy): text, new tokens, prompt tokens, seconds."""
    import torch

    from helpers.gpu import sync

    inputs = encode(processor, image, question, model.device)
    if "pixel_values" in inputs:
        inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
    tok = processor.tokenizer
    sync(model.device)
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
    sync(model.device)
    seconds = time.perf_counter() - start
    new = out[0, inputs["input_ids"].shape[1]:]
    return {"text": processor.decode(new, skip_special_tokens=True).strip(), "new_tokens": int(new.numel()),
            "prompt_tokens": int(inputs["input_ids"].shape[1]), "seconds": seconds}


def image_embeddings(model: Any, pixel_values: Any) -> dict[str, Any]:
    """The steps a LLaVA model takes with an image: patch features from the vision tower, then the projection."""
    import torch

    cfg = model.config
    with torch.inference_mode():
        vision_out = model.model.vision_tower(pixel_values.to(model.dtype), output_hidden_states=True)
        layers = cfg.vision_feature_layer if isinstance(cfg.vision_feature_layer, list) else [cfg.vision_feature_layer]
        chosen = [vision_out.hidden_states[i] for i in layers]  # some models concatenate several layers
        if cfg.vision_feature_select_strategy == "default":
            chosen = [h[:, 1:] for h in chosen]  # drop the CLS token: keep one vector per image patch
        features = torch.cat(chosen, dim=-1)
        projected = model.model.multi_modal_projector(features)
    return {"patch_features": features, "projected": projected}


def merge_and_run(model: Any, inputs: dict[str, Any], projected: Any) -> Any:
    """Put the projected image vectors where the <image> tokens are, run the LLM on that, return the logits."""
    import torch

    ids = inputs["input_ids"]
    with torch.inference_mode():
        embeds = model.get_input_embeddings()(ids)
        mask = (ids == model.config.image_token_index).unsqueeze(-1).expand_as(embeds)
        embeds = embeds.masked_scatter(mask, projected.to(embeds.dtype))
        return model(inputs_embeds=embeds, attention_mask=inputs.get("attention_mask")).logits
