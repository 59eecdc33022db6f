"""Run a causal language model: load it (16-bit, 8-bit or 4-bit), chat with it, time it, size its KV cache.

- ``load_causal_lm(name_or_dir, quant=None | "8bit" | "4bit")`` -> (model, tokenizer): safetensors
  only, never remote code, bf16 on a GPU that supports it and fp32 on a CPU.
- ``chat(model, tok, prompt_or_messages, ...)`` -> the answer text, through the tokenizer's chat template.
- ``timed_generate(model, tok, prompt, ...)`` -> answer, new tokens, the prompt pass's seconds, and tokens/s
  of the generated tokens alone (the prompt pass excluded).
- ``measure_kv_cache(model, lengths)``: the KV cache's real size (``planner_check.kv_cache_bytes``), each cache
  freed before the next, longer run.
- ``placement_gib(model, device_map)``: GiB of weights that accelerate put on each device (GPU, "cpu", "disk").
- Weights' memory: ``model.get_memory_footprint()`` (transformers' own count, quantised weights included).
- ``cpu_4bit_path(model, packed)``: choose bitsandbytes' CPU kernel for 4-bit layers (the packed
  AVX512-BF16 inference kernel, or the plain one that training needs).
- ``planner_model(name_or_dir)``: what the VRAM planner should read for a model (a preset or a config.json),
  before any weight is downloaded; ``bytes_per_token``: what one generated token reads (the roofline's
  denominator); ``measure_generation``: weights, peak increase while generating, tokens/s and answers.

Taught in week 6 (06a-running-an-llm-on-12gb); used again in 07a, e6.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from helpers.presets import GIB

QUANTS = (None, "8bit", "4bit")

# Hub repositories whose architecture a bundled planner preset holds (an instruct model has the layers of
# its base model), so the planner can answer before anything is downloaded.
PLANNER_PRESETS = {
    "unsloth/Llama-3.1-8B-Instruct": "llama-3.1-8b-instruct",  # an ungated copy of Meta's weights
    "meta-llama/Llama-3.1-8B-Instruct": "llama-3.1-8b-instruct",
    "meta-llama/Llama-3.1-8B": "llama-3.1-8b",
    "meta-llama/Llama-3.2-3B-Instruct": "llama-3.2-3b",
    "meta-llama/Llama-3.2-1B-Instruct": "llama-3.2-1b",
    "HuggingFaceTB/SmolLM2-1.7B-Instruct": "smollm2-1.7b",
    "HuggingFaceTB/SmolLM2-360M-Instruct": "smollm2-360m",
    "mistralai/Mistral-7B-Instruct-v0.1": "mistral-7b",
    "unsloth/Llama-3.2-3B-Instruct": "llama-3.2-3b",  # an ungated copy of Meta's weights
    "HuggingFaceTB/SmolLM2-360M": "smollm2-360m",
    "HuggingFaceTB/SmolLM2-135M": "smollm2-135m",
    "HuggingFaceTB/SmolLM2-135M-Instruct": "smollm2-135m",
    "HuggingFaceTB/SmolLM2-1.7B": "smollm2-1.7b",
    "unsloth/mistral-7b-v0.3": "mistral-7b-v0.3",  # an ungated copy of Mistral AI's base model
    "unsloth/Meta-Llama-3.1-8B": "llama-3.1-8b",
}


def planner_model(name_or_dir: Any) -> str:
    """What ``helpers.planner`` should read for a model: a local folder's config.json, a preset, or the Hub's config.json."""
    from pathlib import Path

    path = Path(str(name_or_dir)).expanduser()
    if (path / "config.json").is_file():
        return str(path)
    if str(name_or_dir) in PLANNER_PRESETS:
        return PLANNER_PRESETS[str(name_or_dir)]
    from huggingface_hub import hf_hub_download

    return hf_hub_download(str(name_or_dir), "config.json")  # a few kB: the architecture, no weights


def live_models() -> list[Any]:
    """The generative transformers models alive in this process, after a garbage collection.

    Empty after ``del model; gc.collect()`` once nothing else refers to the model; a peft wrapper, a
    trainer or an optimizer that still refers to it keeps it alive (and on the GPU).
    """
    import gc

    from transformers import GenerationMixin

    gc.collect()
    return [o for o in gc.get_objects() if issubclass(type(o), GenerationMixin)]  # type(): no proxy warnings


def quiet_int8() -> None:
    """Silence LLM.int8's "inputs will be cast to float16" log line (printed for every layer of every token)."""
    import logging

    logging.getLogger("bitsandbytes.autograd._functions").setLevel(logging.ERROR)


def quant_config(quant: str | None, compute_dtype: Any = None) -> Any:
    """A ``BitsAndBytesConfig`` for "8bit" or "4bit" (nf4, double quantisation), or None for 16-bit."""
    if quant not in QUANTS:
        raise ValueError(f"quant must be one of {QUANTS}, got {quant!r}.")
    if quant is None:
        return None
    from transformers import BitsAndBytesConfig

    from helpers.gpu import precision

    if quant == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute_dtype or precision().compute)


def cpu_4bit_path(model: Any, packed: bool) -> int:
    """Choose bitsandbytes' CPU path for every 4-bit layer of ``model``; return how many layers it set.

    On a CPU with AVX512-BF16, bitsandbytes repacks a 4-bit weight for a faster kernel the first time the
    layer runs in eval mode without gradients. That kernel has no backward pass: a model trained after
    generating would get wrong gradients. ``packed=False`` restores the plain layout and keeps it (QLoRA
    on a CPU needs this); ``packed=True`` allows the packed kernel again. GPUs never use either path.
    """
    import bitsandbytes as bnb
    from bitsandbytes.functional import _convert_weight_packed_for_cpu_inverse, has_avx512bf16

    count = 0
    for module in model.modules():
        if not isinstance(module, bnb.nn.Linear4bit):
            continue
        state = getattr(module.weight, "quant_state", None)
        if not packed and state is not None and getattr(state, "packing_format_for_cpu", False):
            module.weight.data, module.weight.quant_state = _convert_weight_packed_for_cpu_inverse(
                module.weight.data, state)
        module.support_avx512bf16_for_cpu = packed and bool(has_avx512bf16())
        count += 1
    return count


def load_tokenizer(name_or_dir: Any) -> Any:
    """The tokenizer of a model, with a padding token set (left padding, for batched generation)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(name_or_dir))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok


def load_causal_lm(name_or_dir: Any, quant: str | None = None, dtype: Any = None, device: Any = None,
                   **kwargs: Any) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer from the Hub or a local folder, optionally 8/4-bit."""
    import torch
    from transformers import AutoModelForCausalLM

    from helpers.gpu import device as pick_device
    from helpers.gpu import precision

    dev = torch.device(device) if device is not None else pick_device()
    dtype = dtype or precision(dev).compute
    bnb = quant_config(quant, compute_dtype=dtype)
    if quant == "8bit":
        quiet_int8()
    model = AutoModelForCausalLM.from_pretrained(
        str(name_or_dir), dtype=dtype, quantization_config=bnb, use_safetensors=True,
        device_map={"": dev.index or 0} if dev.type == "cuda" else None, **kwargs)
    if dev.type != "cuda":
        model = model.to(dev) if bnb is None else model
    model.eval()
    return model, load_tokenizer(name_or_dir)



def _messages(prompt: str | Sequence[dict], system: str | None) -> list[dict]:
    if isinstance(prompt, str):
        msgs = [{"role": "user", "content": prompt}]
    else:
        msgs = list(prompt)
    if system and not any(m["role"] == "system" for m in msgs):
        msgs.insert(0, {"role": "system", "content": system})
    return msgs


def encode_chat(tok: Any, prompt: str | Sequence[dict], system: str | None = None) -> Any:
    """Token ids (a 1 x n tensor dict) of a conversation, ready for the assistant to answer."""
    if tok.chat_template is None:
        raise ValueError("This tokenizer has no chat template: it belongs to a base model. Use an -Instruct "
                         "model, or set tok.chat_template (week 7 shows how).")
    return tok.apply_chat_template(_messages(prompt, system), add_generation_prompt=True, return_tensors="pt",
                                   return_dict=True)


def _first_token_clock(device: Any) -> Any:
    """A logits processor that notes the time the prompt pass ends (when the first new token's logits arrive)."""
    from transformers import LogitsProcessor

    from helpers.gpu import sync

    class FirstTokenClock(LogitsProcessor):
        at: float | None = None

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            if self.at is None:
                sync(device)  # the GPU runs ahead of Python: wait for the prompt pass to finish
                self.at = time.perf_counter()
            return scores

    return FirstTokenClock()


def timed_generate(model: Any, tok: Any, prompt: str | Sequence[dict], max_new_tokens: int = 64,
                   system: str | None = None, chat_format: bool = True, **gen: Any) -> dict[str, Any]:
    """Generate an answer and time it: text, new tokens, the prompt pass's seconds, and generated tokens per second.

    ``tokens_per_s`` counts only the tokens generated after the first one, over the time after the prompt pass
    (the prefill, which reads the whole prompt at once, is timed apart as ``prefill_s``). Pass
    ``min_new_tokens=max_new_tokens`` to time a fixed number of tokens (an answer may otherwise stop early).
    """
    import torch
    from transformers import LogitsProcessorList

    from helpers.gpu import sync

    if chat_format:
        enc = encode_chat(tok, prompt, system)
    else:
        enc = tok(prompt, return_tensors="pt")
    enc = {k: v.to(model.device) for k, v in enc.items()}
    gen.setdefault("do_sample", False)
    gen.setdefault("pad_token_id", tok.pad_token_id)
    clock = _first_token_clock(model.device)
    sync(model.device)
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, logits_processor=LogitsProcessorList([clock]), **gen)
    sync(model.device)
    end = time.perf_counter()
    new = out[0, enc["input_ids"].shape[1]:]
    n = int(new.numel())
    first = clock.at if clock.at is not None else end
    decode_s = end - first
    return {"text": tok.decode(new, skip_special_tokens=True).strip(), "new_tokens": n,
            "prompt_tokens": int(enc["input_ids"].shape[1]), "seconds": end - start, "prefill_s": first - start,
            "tokens_per_s": (n - 1) / decode_s if n > 1 and decode_s > 0 else float("nan")}


def chat(model: Any, tok: Any, prompt: str | Sequence[dict], max_new_tokens: int = 64,
         system: str | None = None, **gen: Any) -> str:
    """The model's answer to a prompt (or a list of chat messages), via the chat template."""
    return timed_generate(model, tok, prompt, max_new_tokens=max_new_tokens, system=system, **gen)["text"]


def measure_kv_cache(model: Any, lengths: Sequence[int], batch_size: int = 1) -> list[dict[str, Any]]:
    """Run one forward pass per context length and report the KV cache it leaves (and the peak memory).

    Each run's output and cache are deleted before the next: a cache still held would sit beside the next,
    longer one and raise its peak (and, near the limit, run out of memory).
    """
    import torch

    from helpers.planner_check import kv_cache_bytes as cache_bytes
    from helpers.vram import free_cached, track_peak

    rows = []
    vocab = model.config.vocab_size
    for n in lengths:
        ids = torch.randint(0, vocab, (batch_size, n), generator=torch.Generator().manual_seed(n)).to(model.device)
        with track_peak(model.device) as peak, torch.inference_mode():
            out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
        cache = getattr(out, "cache", None) or out.past_key_values  # transformers 5 renamed it "cache"
        rows.append({"tokens": n, "kv_cache_mib": cache_bytes(cache) / 2**20,
                     "peak_mib": peak.peak / 2**20, "delta_mib": peak.delta / 2**20})
        del out, cache, ids  # the cache stays alive while any name holds it: free it before the next, longer run
        free_cached()
    return rows


def bytes_per_token(model: Any, bits: int, context: int = 0, batch: int = 1) -> int:
    """Bytes read from memory to generate one token: the weights (the embedding table only through the LM
    head when they are tied: a lookup reads one row) plus the KV cache of ``context`` tokens, per the planner."""
    from helpers import planner

    arch = planner.load_arch(model)
    weights = planner.weight_bytes(arch, bits)
    if not arch.tied:  # the embeddings stay 16-bit (32-bit in fp32): a lookup reads one row a token
        weights -= arch.params_by_kind()["embedding"] * (4 if bits == 32 else 2)
    return weights + planner.kv_cache_bytes(arch, batch, context)


def measure_generation(model: Any, tok: Any, prompts: Sequence[str], max_new_tokens: int) -> dict[str, Any]:
    """Answer each prompt: the weights' memory, the peak *increase* above them, the answers, and tokens/s.

    ``tokens_per_s`` is the speed of generation alone: one run of exactly ``max_new_tokens`` tokens
    (``min_new_tokens``, so it cannot stop early), the prompt pass excluded (see :func:`timed_generate`).
    """
    from helpers.vram import track_peak

    timed_generate(model, tok, prompts[0], max_new_tokens=2)  # warm-up: kernels, caches
    with track_peak(model.device) as peak:
        runs = [timed_generate(model, tok, p, max_new_tokens=max_new_tokens) for p in prompts]
    speed = timed_generate(model, tok, prompts[0], max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens)
    return {"weights_gib": model.get_memory_footprint() / GIB, "resident_gib": peak.start / GIB,
            "peak_increase_gib": peak.delta / GIB, "tokens_per_s": speed["tokens_per_s"],
            "prefill_s": speed["prefill_s"], "answers": [r["text"] for r in runs]}


def placement_gib(model: Any, device_map: dict[str, Any] | None = None) -> dict[str, float]:
    """GiB of parameters and buffers on each device of a device map (default: ``model.hf_device_map``).

    Keys are what accelerate writes: a GPU index (0), "cpu" or "disk". Works on a model built on the ``meta``
    device too, so a placement can be read before any weight is loaded.
    """
    device_map = device_map if device_map is not None else (getattr(model, "hf_device_map", None) or {"": "cpu"})
    names = sorted(device_map, key=len, reverse=True)  # the longest matching module name wins
    totals: dict[str, float] = {}
    tensors = [*model.named_parameters(), *model.named_buffers()]
    for name, tensor in tensors:
        owner = next((m for m in names if m == "" or name == m or name.startswith(m + ".")), None)
        where = str(device_map[owner]) if owner is not None else "cpu"
        totals[where] = totals.get(where, 0.0) + tensor.numel() * tensor.element_size() / GIB
    return totals
