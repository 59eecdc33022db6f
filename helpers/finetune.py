"""Instruction fine-tuning with LoRA / QLoRA: chat formatting, prompt masking, adapters, one small loop.

- ``ensure_chat_template(tok)``: give a base model's tokenizer a chat template if it has none.
- ``tokenize_pair(tok, instruction, response)``: input ids with ``labels = -100`` on the prompt, so
  the loss counts only the answer's tokens.
- ``Collator(pad_id)``: pads a batch (labels padded with -100).
- ``add_lora(model, r, alpha, ...)``: peft's ``LoraConfig`` + ``get_peft_model`` (and, for a 4-bit
  base, ``prepare_model_for_kbit_training``: that is QLoRA).
- ``train(model, batches, steps, lr, optimizer=...)``: a plain, readable loop with a progress bar,
  returning the loss history; ``optimizer="paged_adamw_8bit"`` uses bitsandbytes' paged 8-bit AdamW.
- ``heldout_loss(model, examples, ...)``: mean loss per answer token on held-out examples (its exp is
  the perplexity).
- ``load_alone(name_or_dir, ...)``: ``llm.load_causal_lm`` that refuses to load while a model it loaded
  before is still alive, so a notebook never holds two base models at once (``llm.live_models()`` lists them).
- ``paged_optimizer_gib()``: what bitsandbytes' paged optimizers still hold. Their states live in CUDA managed
  memory kept by bitsandbytes' global page manager for the life of the process: deleting the optimizer frees
  none of it, and PyTorch's memory counters never see it. The course trains with the non-paged ``adamw_8bit``.

Taught in week 7 (07a-lora-and-qlora).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

# peft 0.21 still calls transformers' old "gradient_checkpointing" names, which warn on every call: not the
# learner's doing, and nothing they can change (also when a notebook calls prepare_model_for_kbit_training itself)
warnings.filterwarnings("ignore", message=r".*(is_)?gradient_checkpointing.* is deprecated", category=FutureWarning)

IGNORE_INDEX = -100  # the label PyTorch's cross-entropy skips

# Used only when a base model's tokenizer has no chat template of its own: the beginning-of-sequence token (a
# template must write it itself: transformers tokenizes a rendered chat with add_special_tokens=False), plain-text
# role markers, and the end-of-sequence token closing each answer so generation knows when to stop.
FALLBACK_CHAT_TEMPLATE = (
    "{% if bos_token %}{{ bos_token }}{% endif %}"
    "{% for message in messages %}"
    "{{ '### ' + message['role'] | capitalize + ':\n' + message['content'] | trim + '\n' }}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '### Assistant:\n' }}{% endif %}"
)


def ensure_chat_template(tok: Any) -> Any:
    """Give a tokenizer the course's fallback chat template if it has none (base models); return it."""
    if tok.chat_template is None:
        tok.chat_template = FALLBACK_CHAT_TEMPLATE
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def tokenize_pair(tok: Any, instruction: str, response: str, max_length: int = 512,
                  system: str | None = None) -> dict[str, list[int]]:
    """Token ids of one chat-formatted example, with the prompt's labels masked to -100."""
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": instruction}]
    prompt = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    full = tok.apply_chat_template(messages + [{"role": "assistant", "content": response}], tokenize=False)
    if not full.startswith(prompt):
        raise ValueError("This chat template changes the prompt when an answer follows it, so the prompt "
                         "cannot be masked by length; use ensure_chat_template with the course's template.")
    prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tok(full[len(prompt):], add_special_tokens=False)["input_ids"]
    if tok.eos_token_id is not None and (not answer_ids or answer_ids[-1] != tok.eos_token_id):
        answer_ids = answer_ids + [tok.eos_token_id]  # teach the model to stop
    ids = (prompt_ids + answer_ids)[:max_length]
    labels = ([IGNORE_INDEX] * len(prompt_ids) + answer_ids)[:max_length]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}


@dataclass
class Collator:
    """Pad a list of tokenized examples into tensors (right padding; labels padded with -100)."""

    pad_id: int

    def __call__(self, batch: Sequence[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(ex["input_ids"]) for ex in batch)
        out: dict[str, list[list[int]]] = {"input_ids": [], "attention_mask": [], "labels": []}
        for ex in batch:
            pad = width - len(ex["input_ids"])
            out["input_ids"].append(ex["input_ids"] + [self.pad_id] * pad)
            out["attention_mask"].append(ex["attention_mask"] + [0] * pad)
            out["labels"].append(ex["labels"] + [IGNORE_INDEX] * pad)
        return {k: torch.tensor(v) for k, v in out.items()}


def batches(examples: Sequence[dict], batch_size: int, pad_id: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    """Endless shuffled batches (a seeded DataLoader over the tokenized examples)."""
    import torch
    from torch.utils.data import DataLoader

    loader = DataLoader(list(examples), batch_size=batch_size, shuffle=True, collate_fn=Collator(pad_id),
                        generator=torch.Generator().manual_seed(seed))
    while True:
        yield from loader


LLAMA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def add_lora(model: Any, r: int = 16, alpha: int = 32, dropout: float = 0.05,
             targets: Sequence[str] = LLAMA_TARGETS, gradient_checkpointing: bool = False) -> Any:
    """Wrap a causal LM with LoRA adapters (QLoRA when the base is 4-bit); returns the peft model."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if getattr(model, "is_loaded_in_4bit", False):
        from helpers.llm import cpu_4bit_path

        cpu_4bit_path(model, packed=False)  # on AVX512-BF16 CPUs the packed 4-bit kernel has no backward
    if getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False):
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing,
                                                gradient_checkpointing_kwargs={"use_reentrant": False})
    elif gradient_checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x renamed it
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()  # checkpointed blocks need an input that requires grad
    if gradient_checkpointing:
        model.config.use_cache = False  # the cache is useless in training and conflicts with checkpointing
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(targets),
                        task_type="CAUSAL_LM", bias="none")
    return get_peft_model(model, config)


def trainable_parameters(model: Any) -> dict[str, float]:
    """Trainable and total parameter counts, and the trainable share in percent."""
    trainable, total = model.get_nb_trainable_parameters()
    return {"trainable": trainable, "total": total, "percent": 100 * trainable / total}


def make_optimizer(params: Iterable[Any], name: str = "adamw", lr: float = 2e-4, weight_decay: float = 0.0) -> Any:
    """AdamW from PyTorch, or bitsandbytes' 8-bit / paged 8-bit AdamW (``adamw_8bit``, ``paged_adamw_8bit``).

    A paged optimizer's states are never freed (see :func:`paged_optimizer_gib`): make one per process at most.
    """
    import torch

    params = [p for p in params if p.requires_grad]
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    import bitsandbytes as bnb

    if name == "adamw_8bit":
        return bnb.optim.AdamW8bit(params, lr=lr, weight_decay=weight_decay)
    if name == "paged_adamw_8bit":
        return bnb.optim.PagedAdamW8bit(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"Unknown optimizer {name!r}: use 'adamw', 'adamw_8bit' or 'paged_adamw_8bit'.")


def train(model: Any, data: Iterator[dict[str, Any]], steps: int, lr: float = 2e-4, optimizer: str = "adamw",
          grad_accum: int = 1, max_grad_norm: float = 1.0, progress: bool = True,
          desc: str = "LoRA training") -> list[float]:
    """Train for ``steps`` optimizer steps on batches from ``data``; return the loss of each step."""
    import torch
    from tqdm.auto import tqdm

    opt = make_optimizer(model.parameters(), optimizer, lr)
    params = [p for group in opt.param_groups for p in group["params"]]
    device = next(p.device for p in model.parameters() if p.requires_grad)
    model.train()
    history: list[float] = []
    bar = tqdm(range(steps), desc=desc, disable=not progress)
    for _ in bar:
        total = 0.0
        for _ in range(grad_accum):
            batch = {k: v.to(device) for k, v in next(data).items()}
            loss = model(**batch).loss / grad_accum
            loss.backward()
            total += loss.item()
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        history.append(total)
        bar.set_postfix(loss=f"{total:.3f}")
    model.eval()
    return history


def heldout_loss(model: Any, examples: Sequence[dict], pad_id: int, batch_size: int = 8) -> float:
    """Mean cross-entropy per answer token over tokenized examples (eval mode, no gradients)."""
    import torch

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(examples), batch_size):
            batch = {k: v.to(device) for k, v in Collator(pad_id)(examples[i:i + batch_size]).items()}
            n = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())  # the model shifts labels by one
            total += model(**batch).loss.item() * n
            tokens += n
    model.train(was_training)
    return total / max(tokens, 1)


def load_alone(name_or_dir: Any, quant: str | None = None, **kwargs: Any) -> tuple[Any, Any]:
    """``helpers.llm.load_causal_lm``, refused while another model is alive in this process: one at a time."""
    from helpers.llm import live_models, load_causal_lm

    alive = len(live_models())
    if alive:
        raise RuntimeError(f"{alive} model(s) loaded earlier are still alive: loading another would hold two at "
                           "once. Free them first: `del` every variable that holds one (the peft model, the "
                           "trainer, the optimizer too), then `helpers.vram.free_cached()`.")
    return load_causal_lm(name_or_dir, quant=quant, **kwargs)


def paged_optimizer_gib() -> float:
    """GiB that bitsandbytes' paged optimizers still hold in CUDA managed memory (0.0 without bitsandbytes or CUDA).

    bitsandbytes allocates a paged optimizer's larger states with ``cudaMallocManaged`` and appends them to its
    global page manager, which keeps them until Python exits: ``del optimizer`` frees nothing, and neither
    ``torch.cuda.memory_allocated`` nor ``helpers.vram.track_peak`` counts them. (On a CPU, bitsandbytes falls
    back to ordinary tensors, which are freed as usual.)
    """
    import sys

    if "bitsandbytes" not in sys.modules:  # never imported: nothing paged
        return 0.0
    from bitsandbytes.functional import GlobalPageManager

    held = GlobalPageManager.get_instance().paged_tensors
    return sum(t.numel() * t.element_size() for t in held) / 2**30
