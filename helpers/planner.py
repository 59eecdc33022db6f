"""The VRAM planner: where the memory of a model goes, and whether it fits your card.

``estimate("llama-3-8b", method="qlora")`` returns the bytes of six components:

- ``weights``: parameters times bytes per parameter. 16-bit: 2; int8 (LLM.int8): 1 plus an fp32
  scale per output row; NF4 with double quantisation: 0.5 plus one 8-bit absmax per 64 weights
  plus one fp32 absmax per 256 of those. As bitsandbytes does under transformers, only the
  linear layers of the blocks are quantised: embeddings, the LM head and norms stay 16-bit.
  LoRA adapters are fp32 (peft's default ``autocast_adapter_dtype``). For qlora, peft's
  ``prepare_model_for_kbit_training`` (the usual recipe) casts the unquantised parameters
  (embeddings, LM head, norms) to fp32; the fp32 norms make the hidden states, and so every
  activation and the logits, fp32 too (bitsandbytes returns its input's dtype). The planner
  follows it, and the tests measure it.
- ``kv_cache`` (inference): 2 (K and V) x layers x batch x tokens x KV heads x head_dim x 2
  bytes. GQA models (Llama-3, Mistral) have fewer KV heads than query heads. Mistral's sliding
  window caps the cached tokens at the window.
- ``activations``: training: the tensors autograd saves for the backward pass, layer by layer,
  as transformers' Llama code saves them (fp32 RMSNorm copies, SDPA's q/k/v/out and logsumexp,
  the SwiGLU intermediates, the fp32 log-softmax of the logits for the whole sequence), plus a
  transient term (the logits and their gradient; with gradient checkpointing, one layer
  recomputed). Inference: the largest temporary of one prefill forward (generate keeps logits
  for the last token only). Exact for the saved tensors of Llama-family models (the tests
  compare with ``saved_tensors_hooks``); GPT-2/BERT/CLIP use a rougher per-layer rule.
- ``gradients``: one per trainable parameter, in its dtype.
- ``optimizer``: AdamW keeps two states per trainable parameter in its dtype (as
  ``torch.optim.AdamW`` does), 8-bit AdamW two bytes, SGD with momentum one state.
- ``precision`` (full fine-tune at 16 bits): ``"mixed"`` (the default) is the usual recipe, fp32
  master weights, fp32 gradients and fp32 AdamW states under bf16/fp16 autocast, as week 5's
  ``Trainer(bf16=True)`` on an fp32 checkpoint and ``torch.autocast`` do: 4 + 4 + 8 = 16 bytes a
  parameter, plus autocast's 16-bit copies of the weights, which autograd keeps for the backward
  pass (counted with the activations), and an fp32 residual stream. ``"pure"`` is everything in
  bf16 (a model loaded with ``dtype=torch.bfloat16`` and trained as it is): 2 + 2 + 4 = 8 bytes a
  parameter, half the memory, but bf16's 8-bit mantissa drops updates smaller than about 1/256 of
  a weight (a learning rate of 1e-5 times a typical gradient), so it needs care (Kahan summation,
  stochastic rounding) to train as well. The default is the recipe that trains reliably, so the
  planner does not promise a fit that only the riskier recipe reaches. Its step
  (foreach, the CUDA default) briefly holds one more state-sized temporary, after the
  activations are freed: the activations row is the larger of the two.
- ``overhead``: the CUDA context (not visible to PyTorch's allocator, visible to nvidia-smi)
  and a reserve for the allocator's fragmentation.

Not modelled: Mistral sequences longer than its sliding window (an explicit mask changes what SDPA
saves), attention without SDPA ("eager" attention stores batch x heads x seq² scores),
padding masks that make SDPA fall back to its math kernel, CPU offload, fused/Liger kernels,
other programs on the GPU, and activations of diffusers components (their weights only).

Taught in week 6 (06a-running-an-llm-on-12gb, 06b-where-the-memory-goes); used again in 07a, e7.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from helpers.presets import GIB, Arch, gpu_vram_gib, load_arch, preset_names

METHODS = ("inference", "full", "lora", "qlora")
BITS = (32, 16, 8, 4)
OPTIMIZERS = ("adamw", "adamw8bit", "sgd")
PRECISIONS = ("mixed", "pure")  # full fine-tune at 16 bits: fp32 master weights + autocast, or all bf16
COMPONENTS = ("weights", "kv_cache", "activations", "gradients", "optimizer", "overhead")
CUDA_CONTEXT_BYTES = int(0.5 * GIB)  # assumption: PyTorch 2.x + CUDA 12 with lazy loading; rehearse measures it
ALLOCATOR_RESERVE = 0.05  # fraction of the tensors kept as fragmentation/cache by PyTorch's allocator
NF4_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)  # 4-bit values + 8-bit absmax per 64 + fp32 absmax per 256 blocks
NF4_BYTES_NO_DQ = 0.5 + 4 / 64  # without double quantisation: one fp32 absmax per 64 weights
__all__ = ["estimate", "Estimate", "max_batch", "max_seq", "load_arch", "preset_names", "gpu_vram_gib"]


@dataclass(repr=False)
class Estimate:
    """A planner answer: the six components in bytes, the parameter counts, and what was assumed."""

    model: str
    method: str
    bits: int
    batch: int
    seq: int
    params: int
    trainable: int
    components: dict[str, int]
    saved_activations: int = 0
    notes: list[str] = field(default_factory=list)
    knobs: dict = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Sum of the components, in bytes."""
        return sum(self.components.values())

    def fits(self, vram_gib: float = 12.0) -> bool:
        """True if the total fits in a card of ``vram_gib`` GiB."""
        return self.total <= vram_gib * GIB

    def to_dict(self, vram_gib: float | None = None) -> dict:
        """Plain dict for JSON (with ``vram_bytes`` and ``fits`` when a card size is given)."""
        out = asdict(self) | {"total_bytes": self.total}
        if vram_gib is not None:
            out |= {"vram_bytes": int(vram_gib * GIB), "fits": self.fits(vram_gib)}
        return out

    def rows(self) -> list[tuple[str, float]]:
        """(component, GiB) rows, then the total."""
        return [(k, v / GIB) for k, v in self.components.items()] + [("total", self.total / GIB)]

    @property
    def label(self) -> str:
        """Method and precision in a few words, such as "full 16-bit (mixed)" or "qlora 4-bit"."""
        mode = self.knobs.get("precision")
        return f"{self.method} {self.bits}-bit" + (f" ({mode})" if mode else "")

    def title(self) -> str:
        """One line: model, method, precision, batch and length."""
        prec = {32: "fp32", 16: "16-bit", 8: "int8", 4: "4-bit NF4"}[self.bits]
        mode = {"mixed": " mixed precision (fp32 master weights)", "pure": " pure bf16"}.get(self.knobs.get("precision"), "")
        return f"{self.model} · {self.method} · {prec}{mode} · batch {self.batch} × {self.seq} tokens"

    def table(self) -> str:
        """The breakdown as aligned text."""
        lines = [self.title(), f"parameters: {self.params / 1e9:.3f} B (trainable {self.trainable / 1e6:,.1f} M)"]
        lines += [f"  {k:<12}{g:>8.2f} GiB" for k, g in self.rows()]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    __repr__ = __str__

    def _repr_html_(self) -> str:
        body = "".join(f"<tr><td>{k}</td><td style='text-align:right'>{g:.2f}</td></tr>" for k, g in self.rows())
        return (f"<b>{html.escape(self.title())}</b><br>parameters: {self.params / 1e9:.3f} B, trainable "
                f"{self.trainable / 1e6:,.1f} M<table><tr><th>component</th><th>GiB</th></tr>{body}</table>")


def _check(name: str, value: object, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(str, allowed))}, got {value!r}.")


def _positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {value!r}.")
    return value


def lora_targets(arch: Arch, targets: str | tuple[str, ...] | list[str]) -> list[tuple[str, int, int]]:
    """The block linears that LoRA adapts: ``"all-linear"`` or a list of names such as ``("q_proj", "v_proj")``."""
    linears = arch.block_linears()
    if targets == "all-linear":
        return linears
    names = [targets] if isinstance(targets, str) else list(targets)
    chosen = [lin for lin in linears if lin[0] in names]
    unknown = set(names) - {lin[0] for lin in linears}
    if unknown or not chosen:
        raise ValueError(f"LoRA targets {sorted(unknown) or names} are not linear layers of this model; "
                         f"use 'all-linear' or some of: {', '.join(n for n, _, _ in linears)}.")
    return chosen


def weight_bytes(arch: Arch, bits: int, double_quant: bool = True, rest_bytes: int = 2) -> int:
    """Bytes of the base weights at a precision, as bitsandbytes stores them (``rest_bytes``: unquantised params)."""
    kinds = arch.params_by_kind()
    if arch.family == "component":
        kinds = {"linear": kinds["other"], "embedding": 0, "head": 0, "other": 0}
    if bits in (32, 16):
        return arch.params * bits // 8
    rest = (kinds["embedding"] + kinds["head"] + kinds["other"]) * rest_bytes
    if bits == 8:
        rows = arch.layers * sum(o for _, _, o in arch.block_linears()) if arch.family != "component" else 0
        return int(kinds["linear"] + 4 * rows + rest)
    return int(kinds["linear"] * (NF4_BYTES if double_quant else NF4_BYTES_NO_DQ) + rest)


def kv_cache_bytes(arch: Arch, batch: int, seq: int, dtype_bytes: int = 2) -> int:
    """Bytes of the KV cache after ``seq`` tokens: 2 x layers x batch x tokens x KV heads x head_dim."""
    if not arch.causal_lm:
        return 0
    tokens = min(seq, arch.sliding_window - 1) if arch.sliding_window else seq  # transformers keeps window-1
    return 2 * arch.layers * batch * tokens * arch.kv_heads * arch.head_dim * dtype_bytes


def saved_activation_bytes(arch: Arch, batch: int, seq: int, b: int = 2, frozen_base: bool = False,
                           targets: list[tuple[str, int, int]] | None = None, rank: int = 16,
                           checkpointing: bool = False, autocast: bool = False) -> int:
    """Bytes autograd saves for backward in one training forward (``b``: bytes of the compute dtype).

    ``autocast=True``: fp32 weights under 16-bit autocast (mixed precision, full fine-tune): the residual
    stream and norms stay fp32, each linear layer saves a 16-bit copy of its input and of its weight.
    """
    t, h, i, n, v = batch * seq, arch.hidden, arch.intermediate, arch.layers, arch.vocab
    if arch.family == "component":
        return 0
    loss = (t * v * 4 if arch.causal_lm else t * h * 4) + t * 8 + 4  # fp32 log-softmax, labels, the loss
    if arch.family != "llama":  # rougher rule for LayerNorm/GELU blocks with dropout (not validated)
        layer = t * (12 * h * b + 2 * i * b + i * b + 2 * h)
        ckpt = t * h * b
        head = t * h * (4 + b)
        return (n * ckpt if checkpointing else n * layer) + head + loss
    q, kv = arch.heads * arch.head_dim, arch.kv_heads * arch.head_dim
    attn = t * b * (2 * q + 2 * kv) + t * arch.heads * 4  # SDPA saves q, k, v, out and fp32 logsumexp
    rope = 2 * seq * arch.head_dim * b  # cos and sin, shared by all layers
    if autocast and not frozen_base:
        norm = t * (8 * h + 4)  # fp32 input and normalised copy, fp32 rsqrt
        casts = 5 * t * h * b  # q, k, v cast the attention norm's output, gate and up the MLP norm's: one copy each
        copies = (n * sum(fi * fo for _, fi, fo in arch.block_linears()) + v * h) * b  # autocast's weight copies
        final = norm + t * h * b  # final norm, cast for the LM head
        if checkpointing:  # each layer's fp32 input; the layers' weight copies are made again in backward
            return n * t * h * 4 + final + loss + t * 8 + v * h * b
        return n * (2 * norm + casts + attn + 4 * t * i * b) + final + loss + t * 8 + rope * 2 + copies
    if not frozen_base:
        layer = 2 * t * (h * (4 + 2 * b) + 4) + attn + 4 * t * i * b
        final = t * (h * (4 + 2 * b) + 4)
        ids = t * 8  # the embedding saves the token ids
        if checkpointing:
            return n * t * h * b + final + loss + ids
        return n * layer + final + loss + ids + rope
    norm = t * (h * 4 + 4)  # frozen norm weight: only the fp32 input and rsqrt are saved
    targets = targets or []
    lora_out = len(targets) * t * rank * 4
    if b == 4:  # adapters already fp32: one saved input per distinct tensor feeding adapters
        groups = {"q_proj": "n1", "k_proj": "n1", "v_proj": "n1", "gate_proj": "n2", "up_proj": "n2", "down_proj": "d"}
        targets_in = [lin for lin in targets if lin[0] in groups]  # o_proj's input is SDPA's output, already counted
        feeds = {groups[name]: fin for name, fin, _ in targets_in}
        lora_in = sum(t * fin * 4 for fin in feeds.values())
    else:  # peft casts the input to fp32 once per adapter
        lora_in = sum(t * fin * 4 for _, fin, _ in targets)
    layer = 2 * norm + attn + 3 * t * i * b + lora_in + lora_out
    if checkpointing:
        return n * t * h * b + norm + loss
    return n * layer + loss + rope  # layer 0's first norm saves nothing and the final norm does: they cancel


def _transient(arch: Arch, batch: int, seq: int, b: int, training: bool, layer_saved: int) -> int:
    """Short-lived tensors on top of the saved ones: logits and their gradient, a layer's temporaries."""
    t, h, i = batch * seq, arch.hidden, arch.intermediate
    if arch.family == "component":
        return 0
    if training:
        logits = t * arch.vocab * (b + 4) if arch.causal_lm else 0
        return logits + 2 * t * i * b + layer_saved
    q, kv = arch.heads * arch.head_dim, arch.kv_heads * arch.head_dim
    layer_peak = max(t * (2 * q + 4 * kv) * b, 3 * t * i * b)
    logits = batch * arch.vocab * (b + 4) if arch.causal_lm else t * h * b
    return t * h * (b + 4) + layer_peak + logits


def estimate(model: str | dict | Path | Arch, method: str = "inference", bits: int | None = None,
             batch: int = 1, seq: int | None = None, optimizer: str = "adamw", checkpointing: bool | None = None,
             lora_rank: int = 16, lora_target: str | tuple[str, ...] = "all-linear",
             double_quant: bool = True, precision: str = "mixed") -> Estimate:
    """Estimate the memory of running or training a model; see the module docstring for what is modelled.

    ``checkpointing=None`` means on for qlora (peft's ``prepare_model_for_kbit_training`` turns it on)
    and off otherwise. ``seq`` defaults to 2048 tokens for inference and 512 for training.
    ``precision`` matters for a full fine-tune at 16 bits only: ``"mixed"`` (fp32 master weights, gradients
    and AdamW states under autocast, 16 bytes a parameter) or ``"pure"`` (all bf16, 8 bytes a parameter).
    """
    arch = load_arch(model)
    if checkpointing is None:
        checkpointing = method == "qlora"
    _check("method", method, METHODS)
    bits = bits if bits is not None else (4 if method == "qlora" else 16)
    _check("bits", bits, BITS)
    _check("optimizer", optimizer, OPTIMIZERS)
    _check("precision", precision, PRECISIONS)
    batch = _positive("batch", batch)
    seq = _positive("seq", seq if seq is not None else (2048 if method == "inference" else 512))
    lora_rank = _positive("lora_rank", lora_rank)
    if method == "full" and bits not in (32, 16):
        raise ValueError("full fine-tuning trains the weights themselves: use bits 32 or 16 (or method qlora for 4-bit).")
    if method == "lora" and bits not in (32, 16):
        raise ValueError("lora keeps the base model in 16 or 32 bits; for a 4- or 8-bit base use method qlora.")
    if method == "qlora" and bits not in (8, 4):
        raise ValueError("qlora quantises the base model: use bits 4 (NF4) or 8; for 16-bit use method lora.")
    if arch.family == "component" and method != "inference":
        raise ValueError(f"{arch.name} is a diffusers component: the planner models its weights for inference only.")
    b = 4 if bits == 32 else 2  # compute dtype: fp32, else bf16/fp16 (bitsandbytes' compute dtype)
    notes = [f"config: {arch.source}"]
    mixed = method == "full" and bits == 16 and precision == "mixed"  # fp32 master weights under autocast
    upcast = method == "qlora"  # peft's prepare_model_for_kbit_training casts the unquantised params to fp32
    weights, kv, grads, opt, trainable = weight_bytes(arch, 32 if mixed else bits, double_quant, 4 if upcast else 2), 0, 0, 0, 0
    saved = transient = 0
    if method == "inference":
        kv = kv_cache_bytes(arch, batch, seq, b)
        transient = _transient(arch, batch, seq, b, False, 0)
    else:
        frozen = method in ("lora", "qlora")
        targets = lora_targets(arch, lora_target) if frozen else None
        if frozen:
            trainable = arch.layers * sum(lora_rank * (fin + fout) for _, fin, fout in targets)
            weights += trainable * 4
            grads, state_bytes = trainable * 4, 4
        else:
            trainable = arch.params
            state_bytes = 4 if mixed else b  # mixed: fp32 gradients and AdamW states, like the master weights
            grads = trainable * state_bytes
        opt = {"adamw": 2 * state_bytes * trainable, "adamw8bit": int(2 * trainable * (1 + 4 / 256)),
               "sgd": state_bytes * trainable}[optimizer]
        act_b = 4 if upcast else b  # fp32 norms make every hidden state fp32 (bnb returns the input dtype)
        saved = saved_activation_bytes(arch, batch, seq, act_b, frozen, targets, lora_rank, checkpointing, mixed)
        one_layer = 0
        if checkpointing:
            full_saved = saved_activation_bytes(arch, batch, seq, act_b, frozen, targets, lora_rank, False, mixed)
            one_layer = (full_saved - saved) // max(arch.layers, 1)
        transient = _transient(arch, batch, seq, act_b, True, one_layer)
        if optimizer != "adamw8bit":  # torch's foreach step makes one temporary the size of a state
            transient = max(transient, state_bytes * trainable - saved)
        if arch.family != "llama":
            notes.append("activations of GPT-2/BERT-style blocks use a rough per-layer rule (not validated).")
            if mixed:  # the rough rule has no autocast variant: add the 16-bit weight copies autocast keeps
                saved += arch.params_by_kind()["linear"] * 2
        if method == "full" and bits == 16:
            notes.append("mixed precision: fp32 master weights, gradients and AdamW states (16 bytes a parameter) "
                         "under 16-bit autocast; --precision pure (all bf16, 8 bytes) halves them" if mixed else
                         "pure bf16: weights, gradients and AdamW states all 16-bit (8 bytes a parameter); the usual "
                         "recipe (--precision mixed, fp32 master weights) needs 16")
    tensors = weights + kv + saved + transient + grads + opt
    overhead = CUDA_CONTEXT_BYTES + int(ALLOCATOR_RESERVE * tensors)
    comps = dict(zip(COMPONENTS, (weights, kv, saved + transient, grads, opt, overhead), strict=True))
    if upcast and arch.family != "component":
        kinds = arch.params_by_kind()
        kept = (kinds["embedding"] + kinds["head"] + kinds["other"]) * 4
        notes.append(f"weights: {(weights - kept - trainable * 4) / GIB:.2f} GiB of {bits}-bit blocks + {kept / GIB:.2f} GiB "
                     "of fp32 embeddings, head and norms (peft's prepare_model_for_kbit_training upcasts them).")
    if arch.family == "component":
        notes.append("diffusers component: weights only; activations depend on resolution and attention settings.")
    knobs = {"optimizer": optimizer, "checkpointing": checkpointing, "lora_rank": lora_rank,
             "lora_target": lora_target if isinstance(lora_target, str) else list(lora_target),
             "double_quant": double_quant, "precision": precision if method == "full" and bits == 16 else None}
    return Estimate(model=arch.name, method=method, bits=bits, batch=batch, seq=seq, params=arch.params,
                    trainable=trainable, components=comps, saved_activations=saved, notes=notes, knobs=knobs)


def _largest(fits_at: Callable[[int], bool], limit: int) -> int:
    """Largest n in [1, limit] with fits_at(n) true (0 if none), for a monotone test."""
    if not fits_at(1):
        return 0
    low, high = 1, 2
    while high <= limit and fits_at(high):
        low, high = high, high * 2
    high = min(high, limit + 1)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if fits_at(mid) else (low, mid)
    return low


def max_batch(model: str | dict | Path | Arch, vram_gib: float = 12.0, limit: int = 4096, **kwargs) -> int:
    """Largest batch size whose estimate fits in ``vram_gib`` (0 if not even 1 fits)."""
    arch = load_arch(model)
    return _largest(lambda n: estimate(arch, batch=n, **kwargs).fits(vram_gib), limit)


def max_seq(model: str | dict | Path | Arch, vram_gib: float = 12.0, limit: int | None = None, **kwargs) -> int:
    """Longest sequence (tokens) whose estimate fits, up to the model's context length (0 if none)."""
    arch = load_arch(model)
    limit = limit or arch.max_positions or 1 << 20
    return _largest(lambda n: estimate(arch, seq=n, **kwargs).fits(vram_gib), limit)


def compare(model: str | dict | Path | Arch, **kwargs) -> list[Estimate]:
    """The same model under every method at its usual precision (full fine-tune: mixed and pure), side by side."""
    arch = load_arch(model)
    combos = [("inference", 16, {}), ("inference", 4, {}), ("full", 16, {"precision": "mixed"}),
              ("full", 16, {"precision": "pure"}), ("lora", 16, {}), ("qlora", 4, {})]
    return [estimate(arch, method=m, bits=b, **(kwargs | extra)) for m, b, extra in combos]
