"""Measure what the planner estimates, on any device: parameters, KV cache, saved activations, peaks.

- :func:`build` makes a random-weight replica of an architecture from its config (a preset or a
  config.json): on the ``meta`` device it costs no memory, on a GPU it is the real size, with no
  download. :func:`meta_params` counts the parameters of the real transformers class.
- :func:`kv_cache_bytes` adds up the key/value tensors of a transformers cache after a forward.
- :func:`saved_bytes` runs a training forward under ``torch.autograd.graph.saved_tensors_hooks``
  and adds up the distinct storages autograd keeps for backward (parameters excluded).
- :func:`rehearse` runs a replica's step and reads its peak, under :func:`rehearsal_cap_gib`: the VRAM free now
  less the ladders' margin (or what a smaller card would leave).

Taught in week 6 (06b-where-the-memory-goes).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from helpers import gpu
from helpers.models import count_parameters
from helpers.presets import GIB, load_arch, preset_config


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
    return count_parameters(build(model, device="meta", **overrides))


def kv_cache_bytes(cache: Any) -> int:
    """Bytes held by the key and value tensors of a transformers cache (``outputs.cache`` in transformers 5)."""
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


def training_saved_bytes(net: Any, batch: int, seq: int, checkpointing: bool = False, seed: int = 0,
                         autocast: bool = False) -> int:
    """Saved-activation bytes of one training forward (with labels) of a causal LM on random tokens.

    ``autocast=True`` runs the forward under bf16 autocast (mixed precision: give it an fp32 model).
    """
    import contextlib

    import torch

    if checkpointing:  # the reentrant variant saves each layer's input where the hooks can see it
        enable = getattr(net, "activation_checkpointing_enable", None)  # transformers 5 name
        if enable is not None:
            enable(activation_checkpointing_kwargs={"use_reentrant": True})
        else:
            net.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": True})
    net.train()
    gen = torch.Generator().manual_seed(seed)
    device = next(net.parameters()).device
    ids = torch.randint(0, net.config.vocab_size, (batch, seq), generator=gen).to(device)
    amp = torch.autocast(device.type, dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    with amp:
        nbytes, _ = saved_bytes(lambda: net(input_ids=ids, labels=ids, use_cache=False), exclude=net.parameters())
    return nbytes


def training_state_bytes(net: Any, optimizer: Any) -> int:
    """Bytes of the weights, their gradients and the optimizer's state tensors (after a step), counted one by one."""
    import torch

    params = list(net.parameters())
    total = sum(p.numel() * p.element_size() for p in params)
    total += sum(p.grad.numel() * p.grad.element_size() for p in params if p.grad is not None)
    for state in optimizer.state.values():
        total += sum(t.numel() * t.element_size() for t in state.values() if torch.is_tensor(t) and t.dim() > 0)
    return total


def _quantised_replica(net: Any, bits: int, device: str) -> Any:
    """Save a random replica and load it back through bitsandbytes, as a learner's from_pretrained would."""
    import tempfile

    from transformers import AutoModelForCausalLM, BitsAndBytesConfig
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    compute = gpu.precision(device).compute  # the course's rule: bf16 (or fp16) on a GPU, fp32 on a CPU
    qconf = (BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                bnb_4bit_compute_dtype=compute) if bits == 4 else BitsAndBytesConfig(load_in_8bit=True))
    with tempfile.TemporaryDirectory(prefix="replica-") as tmp:
        net.save_pretrained(tmp)
        del net
        return AutoModelForCausalLM.from_pretrained(tmp, quantization_config=qconf, dtype=compute,
                                                    device_map={"": device if device != "cuda" else 0})


def rehearsal_cap_gib(card_gib: float | None = None, margin: float | None = None) -> float | None:
    """The allocator cap for a rehearsal on this GPU, in GiB: what PyTorch may hold now, less the margin.

    That is the VRAM free now (``torch.cuda.mem_get_info``: after this process's CUDA context and whatever the
    desktop and other programs hold) plus what PyTorch's allocator already reserves, less ``margin`` (the ladders'
    ``MARGIN_GIB``). ``card_gib`` acts as a smaller card: no more than such a card leaves beside its CUDA context.
    None without CUDA.
    """
    import torch

    from helpers.ladders import MARGIN_GIB
    from helpers.planner import CUDA_CONTEXT_BYTES

    if not torch.cuda.is_available():
        return None
    torch.cuda.empty_cache()
    free, _total = torch.cuda.mem_get_info(0)
    cap = (free + torch.cuda.memory_reserved(0)) / GIB
    if card_gib:
        cap = min(cap, card_gib - CUDA_CONTEXT_BYTES / GIB)
    return cap - (MARGIN_GIB if margin is None else margin)


def rehearse(model: str | dict | Path, method: str = "inference", bits: int | None = None, batch: int = 1,
             seq: int = 512, steps: int = 2, device: str = "cuda", cap_gib: float | None = 12.0,
             checkpointing: bool | None = None, lora_rank: int = 16, precision: str = "mixed",
             optimizer: str = "adamw", **overrides: Any) -> dict[str, Any]:
    """Build a random-weight replica, run a few inference or training steps, and return peak vs estimate.

    A full fine-tune at 16 bits follows ``precision`` as the planner does: ``"mixed"`` keeps fp32 weights
    and trains under bf16 autocast, ``"pure"`` trains a bf16 model as it is.

    On CUDA PyTorch's allocator is capped at ``cap_gib`` (``set_per_process_memory_fraction``; the CUDA context
    lies outside it): :func:`rehearsal_cap_gib` gives what this card has free now, or what a smaller card would
    leave, so a 12 GB claim is tested on any larger GPU. On a CPU the same steps run and the peak is this
    process's RSS (noisy).
    """
    import contextlib
    import gc

    import torch

    from helpers import planner, vram

    bits = bits if bits is not None else (4 if method == "qlora" else 16)
    checkpointing = (method == "qlora") if checkpointing is None else checkpointing
    cfg = dict(preset_config(model)) if isinstance(model, str) and not Path(model).is_file() else model
    cfg = cfg | overrides if isinstance(cfg, dict) else cfg
    est = planner.estimate(cfg, method=method, bits=bits, batch=batch, seq=seq, checkpointing=checkpointing,
                           lora_rank=lora_rank, precision=precision, optimizer=optimizer)
    mixed = est.knobs.get("precision") == "mixed"
    cuda = device == "cuda"
    if cuda:
        total = torch.cuda.get_device_properties(0).total_memory
        if cap_gib:
            torch.cuda.set_per_process_memory_fraction(min(1.0, cap_gib * GIB / total))
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    half = gpu.precision(device).half  # the course's 16-bit type on this device (a T4: fp16)
    dtype = torch.float32 if bits == 32 or mixed or not cuda else half
    amp = torch.autocast(device, dtype=half) if mixed else contextlib.nullcontext()
    status, peak = "ok", None
    try:
        with vram.track_peak(device) as tracked:
            if method == "qlora" or (method == "inference" and bits in (8, 4)):
                net = _quantised_replica(build(cfg, device="cpu", dtype=dtype), bits, device)
            else:
                net = build(cfg, device=device, dtype=dtype)
            ids = torch.randint(0, net.config.vocab_size, (batch, seq), device=device)
            if method == "inference":
                net.eval()
                with torch.no_grad():
                    out = net(input_ids=ids[:, :-steps], use_cache=True, logits_to_keep=1)
                    key = "cache" if hasattr(out, "cache") else "past_key_values"  # renamed in transformers 5.2x
                    cache = getattr(out, key)
                    for i in range(steps):  # decode the last tokens one by one, as generate does
                        out = net(input_ids=ids[:, seq - steps + i:seq - steps + i + 1], use_cache=True, logits_to_keep=1,
                                  **{key: cache})
            else:
                if method in ("lora", "qlora"):
                    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

                    if method == "qlora":
                        net = prepare_model_for_kbit_training(net, use_gradient_checkpointing=checkpointing)
                    elif checkpointing:
                        net.gradient_checkpointing_enable()
                        net.enable_input_require_grads()
                    net = get_peft_model(net, LoraConfig(r=lora_rank, target_modules="all-linear", lora_dropout=0.0))
                elif checkpointing:
                    net.gradient_checkpointing_enable()
                net.train()
                trainable = [p for p in net.parameters() if p.requires_grad]
                if optimizer == "adamw8bit":  # not the paged variant: its states would hide from the allocator
                    import bitsandbytes as bnb

                    opt = bnb.optim.AdamW8bit(trainable, lr=1e-5)
                elif optimizer == "sgd":
                    opt = torch.optim.SGD(trainable, lr=1e-5, momentum=0.9)
                else:
                    opt = torch.optim.AdamW(trainable, lr=1e-5)
                for _ in range(steps):
                    with amp:
                        loss = net(input_ids=ids, labels=ids, use_cache=False).loss
                    loss.backward()
                    opt.step()
                    opt.zero_grad(set_to_none=True)
            if cuda:
                torch.cuda.synchronize()
                peak = {"peak_allocated": torch.cuda.max_memory_allocated(),
                        "peak_reserved": torch.cuda.max_memory_reserved()}
                free, total = torch.cuda.mem_get_info()
                peak["context"] = max(total - free - torch.cuda.memory_reserved(), 0)
    except Exception as err:  # noqa: BLE001 - an OOM under the cap is a result, not a crash
        if not vram.is_oom(err):
            raise
        status = "oom"
    finally:
        net = cache = out = opt = None
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.set_per_process_memory_fraction(1.0)
    tensors = est.total - est.components["overhead"]
    measured = peak["peak_allocated"] if peak else (tracked.delta if status == "ok" else None)
    row = {"model": est.model, "method": method, "bits": bits, "batch": batch, "seq": seq,
           "precision": est.knobs.get("precision"), "optimizer": optimizer,
           "checkpointing": checkpointing, "device": device, "cap_gib": cap_gib if cuda else None, "status": status,
           "estimate_tensors_bytes": tensors, "estimate_total_bytes": est.total,
           # the cap limits PyTorch's allocator only, so the CUDA context does not count against it
           "estimate_fits_cap": (est.total - planner.CUDA_CONTEXT_BYTES) <= cap_gib * GIB if cap_gib else None,
           "measured_bytes": measured,
           "components": est.components}
    if peak:
        row |= peak
    if measured:
        error = tensors - measured
        row |= {"error_bytes": error, "error_rel": error / measured,
                "within_goal": abs(error) <= max(0.10 * measured, 0.5e9)}
    return row
