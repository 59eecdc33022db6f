"""Measure what the planner estimates, on any device: parameters, KV cache, saved activations, peaks.

- :func:`build` makes a random-weight replica of an architecture from its config (a preset or a
  config.json): on the ``meta`` device it costs no memory, on a GPU it is the real size, with no
  download. :func:`meta_params` counts the parameters of the real transformers class.
- :func:`kv_cache_bytes` adds up the key/value tensors of a transformers cache after a forward.
- :func:`saved_bytes` runs a training forward under ``torch.autograd.graph.saved_tensors_hooks``
  and adds up the distinct storages autograd keeps for backward (parameters excluded).
- :func:`cuda_peak` runs a function on the GPU and reports PyTorch's allocator peak.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from helpers.memory_presets import load_arch, preset_config


def hf_config(model: str | dict | Path, **overrides: Any) -> Any:
    """A transformers config object for a preset, a config.json path or a dict (fields overridable)."""
    import json

    from transformers import AutoConfig

    if isinstance(model, dict):
        cfg = dict(model)
    elif Path(str(model)).expanduser().is_file():
        cfg = json.loads(Path(str(model)).expanduser().read_text())
    else:
        load_arch(model)  # a clear error for unknown names
        cfg = preset_config(str(model))
    if "_class_name" in cfg:
        raise ValueError(f"{model}: a diffusers component; build it with diffusers, not transformers.")
    cfg = {k: v for k, v in cfg.items() if not k.startswith("_")} | overrides
    return AutoConfig.for_model(cfg.pop("model_type"), **cfg)


def build(model: str | dict | Path, device: str = "meta", dtype: Any = None, seed: int = 0, **overrides: Any) -> Any:
    """A random-weight model of this architecture (causal LM, CLIP text model, or encoder)."""
    import torch
    from transformers import AutoModel, AutoModelForCausalLM

    config = hf_config(model, **overrides)
    torch.manual_seed(seed)
    with torch.device(device):
        if config.model_type in ("llama", "mistral", "gpt2"):
            net = AutoModelForCausalLM.from_config(config, dtype=dtype)
        elif config.model_type == "clip_text_model":
            from transformers import CLIPTextModel, CLIPTextModelWithProjection

            cls = CLIPTextModelWithProjection if "CLIPTextModelWithProjection" in (config.architectures or []) \
                else CLIPTextModel
            net = cls(config).to(dtype or torch.float32)
        else:
            net = AutoModel.from_config(config, dtype=dtype)
    return net


def meta_params(model: str | dict | Path, **overrides: Any) -> int:
    """Parameter count of the real transformers model, built on the meta device (no memory)."""
    net = build(model, device="meta", **overrides)
    return sum(p.numel() for p in net.parameters())


def kv_cache_bytes(cache: Any) -> int:
    """Bytes held by the key and value tensors of a transformers cache (``outputs.past_key_values``)."""
    total = 0
    for layer in getattr(cache, "layers", []):
        for t in (getattr(layer, "keys", None), getattr(layer, "values", None)):
            if t is not None:
                total += t.numel() * t.element_size()
    return total


def saved_bytes(run: Callable[[], Any], exclude: Any = ()) -> tuple[int, Any]:
    """Bytes of distinct storages saved for backward while ``run()`` executes; returns (bytes, result).

    Pass ``exclude=model.parameters()`` so weights (which linear layers also save) are not counted.
    """
    import torch

    skip = {p.untyped_storage().data_ptr() for p in exclude}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in skip and ptr not in seen:
            seen[ptr] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        result = run()
    return sum(seen.values()), result


def training_saved_bytes(net: Any, batch: int, seq: int, checkpointing: bool = False, seed: int = 0) -> int:
    """Saved-activation bytes of one training forward (with labels) of a causal LM on random tokens."""
    import torch

    if checkpointing:  # the reentrant variant saves each layer's input where the hooks can see it
        net.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": True})
    net.train()
    gen = torch.Generator().manual_seed(seed)
    device = next(net.parameters()).device
    ids = torch.randint(0, net.config.vocab_size, (batch, seq), generator=gen).to(device)
    nbytes, _ = saved_bytes(lambda: net(input_ids=ids, labels=ids), exclude=net.parameters())
    return nbytes


def cuda_peak(step: Callable[[], Any]) -> dict[str, int]:
    """Run ``step()`` on the GPU; return allocator peak, reserved peak and device-wide use, in bytes."""
    import torch

    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    free, total = torch.cuda.mem_get_info()
    return {"peak_allocated": torch.cuda.max_memory_allocated(), "peak_reserved": torch.cuda.max_memory_reserved(),
            "device_used": total - free, "reserved": torch.cuda.memory_reserved()}
