"""Tiny random models built offline for the smoke profile, and real architectures from their configs.

The smoke profile loads these through the very code the full profile uses
(``AutoTokenizer.from_pretrained(folder)``, ``AutoModelForCausalLM.from_pretrained(folder)``), so
CI exercises the real loading path without a download. Stable public API (other notebooks rely on it):

- ``build_tokenizer(corpus, vocab_size=512, style="llama", model_max_length=512)``: a byte-level
  BPE tokenizer trained offline with ``tokenizers``, wrapped as a transformers fast tokenizer.
  ``style`` is ``"llama"`` (Llama-3 special tokens and chat template), ``"gpt2"`` or ``"bert"``.
- ``tiny_llama(vocab_size, hidden_size=64, num_layers=2, ...)`` -> ``LlamaForCausalLM``
- ``tiny_gpt2(vocab_size, n_embd=64, n_layer=2, ...)`` -> ``GPT2LMHeadModel``
- ``tiny_bert_classifier(vocab_size, num_labels=2, ...)`` -> ``DistilBertForSequenceClassification``
- ``save_tiny(model, tokenizer, path)`` -> the folder (safetensors + tokenizer files)
- ``tiny_model_dir(kind, path=None)`` -> a folder built once (kinds in ``TINY_KINDS``: "llama",
  "gpt2", "bert-classifier") under ``cache.data_dir("tiny-models")``, ready for ``from_pretrained``.
- ``real_config(name)`` / ``replica(name, device="meta")``: the published architecture of a real
  model (``ARCHITECTURES``) as a transformers config, and a model with that shape and random (or no,
  on ``meta``) weights, for counting parameters and measuring memory without a download.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# Llama-3's chat format (the special tokens and layout of Meta's Llama-3 instruct models).
LLAMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

_SPECIALS = {
    "llama": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "pad_token": "<|finetune_pad|>",
              "extra": ["<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>"]},
    "gpt2": {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
             "extra": []},
    "bert": {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
             "mask_token": "[MASK]", "extra": []},
}

# A small English corpus for the tokenizers of the tiny models: enough text for a few hundred merges.
DEFAULT_CORPUS = """\
A graphics card with twelve gigabytes of memory can run and fine-tune language models when the
weights are stored in fewer bits. A transformer reads a sequence of tokens, turns each into a
vector, and lets every position attend to the positions before it. Training adjusts the weights
so that the model predicts the next token better. Low-rank adapters train a small number of new
weights beside the frozen ones, which saves memory for gradients and optimizer state.
The film was wonderful, the acting was great and the story moved me. The service was slow and the
food was cold; I would not go back. What is the capital of France? The capital of France is Paris.
Translate to Spanish: good morning. Buenos dias. Write a short poem about the sea. The sea is wide
and blue, it sings to me and you. Explain what a GPU is. A GPU is a processor with thousands of small
cores that run the same operation on many numbers at once, which suits matrix multiplication.
List three colours: red, green, blue. Name a planet: Mars. How many legs does a spider have? Eight.
The quick brown fox jumps over the lazy dog. One, two, three, four, five, six, seven, eight, nine, ten.
"""

TINY_KINDS = ("llama", "gpt2", "bert-classifier")
TINY_VERSION = 3  # bump when the tiny models change, so cached folders are rebuilt


def _texts(corpus: str | Iterable[str]) -> list[str]:
    if isinstance(corpus, str):
        return [line for line in corpus.splitlines() if line.strip()]
    return [t for t in corpus if t and t.strip()]


def build_tokenizer(corpus: str | Iterable[str] = DEFAULT_CORPUS, vocab_size: int = 512, style: str = "llama",
                    model_max_length: int = 512, chat_template: str | None = None) -> Any:
    """Train a byte-level BPE tokenizer offline and wrap it as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if style not in _SPECIALS:
        raise ValueError(f"Unknown tokenizer style {style!r}: use one of {', '.join(_SPECIALS)}.")
    specials = dict(_SPECIALS[style])
    extra = specials.pop("extra")
    special_list = list(dict.fromkeys([*specials.values(), *extra]))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special_list, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_texts(corpus), trainer=trainer)
    if style == "llama":
        bos = specials["bos_token"]
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))])
    elif style == "bert":
        cls, sep = specials["cls_token"], specials["sep_token"]
        tok.post_processor = processors.TemplateProcessing(
            single=f"{cls} $A {sep}", pair=f"{cls} $A {sep} $B {sep}",
            special_tokens=[(cls, tok.token_to_id(cls)), (sep, tok.token_to_id(sep))])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=model_max_length,
                                      additional_special_tokens=extra or None, **specials)
    if style == "gpt2":
        wrapped.pad_token = wrapped.eos_token  # GPT-2 has no padding token; reuse end-of-text, as HF does
    if style == "llama" or chat_template:
        wrapped.chat_template = chat_template or LLAMA3_CHAT_TEMPLATE
    if style == "bert":
        wrapped.model_input_names = ["input_ids", "attention_mask"]  # DistilBERT takes no token_type_ids
    return wrapped


def _seeded(seed: int) -> None:
    import torch

    torch.manual_seed(seed)


def tiny_llama(vocab_size: int, hidden_size: int = 64, num_layers: int = 2, num_heads: int = 4,
               num_kv_heads: int = 2, head_dim: int = 32, intermediate_size: int = 192,
               max_position_embeddings: int = 512, seed: int = 0, tokenizer: Any = None,
               initializer_range: float = 0.15) -> Any:
    """A Llama-architecture causal LM with random weights (grouped-query attention, RoPE, SwiGLU)."""
    # Every projection is a multiple of 64 wide (q 128, k/v 64, MLP 192): bitsandbytes' 4-bit CPU kernel
    # on AVX512-BF16 processors repacks weights in blocks of 32 outputs and 64 inputs, and refuses other sizes.
    # initializer_range is wider than Llama's 0.02: at width 64 that would cap the logits near +-1, so the
    # random model could not move far from uniform and a LoRA on it would barely learn in a smoke run.
    from transformers import LlamaConfig, LlamaForCausalLM

    _seeded(seed)
    ids = _special_ids(tokenizer)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_layers,
                         num_attention_heads=num_heads, num_key_value_heads=num_kv_heads,
                         head_dim=head_dim, intermediate_size=intermediate_size, max_position_embeddings=max_position_embeddings,
                         tie_word_embeddings=False, initializer_range=initializer_range, **ids)
    return LlamaForCausalLM(config)


def tiny_gpt2(vocab_size: int, n_embd: int = 64, n_layer: int = 2, n_head: int = 4, n_positions: int = 256,
              seed: int = 0, tokenizer: Any = None) -> Any:
    """A GPT-2-architecture causal LM with random weights."""
    from transformers import GPT2Config, GPT2LMHeadModel

    _seeded(seed)
    config = GPT2Config(vocab_size=vocab_size, n_embd=n_embd, n_layer=n_layer, n_head=n_head,
                        n_positions=n_positions, **_special_ids(tokenizer))
    return GPT2LMHeadModel(config)


def tiny_bert_classifier(vocab_size: int, num_labels: int = 2, dim: int = 64, n_layers: int = 2,
                         n_heads: int = 4, hidden_dim: int = 128, max_position_embeddings: int = 256,
                         seed: int = 0, tokenizer: Any = None,
                         labels: tuple[str, ...] | None = ("negative", "positive")) -> Any:
    """A DistilBERT-architecture sequence classifier with random weights."""
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    _seeded(seed)
    names = labels if labels and len(labels) == num_labels else tuple(f"LABEL_{i}" for i in range(num_labels))
    config = DistilBertConfig(vocab_size=vocab_size, dim=dim, n_layers=n_layers, n_heads=n_heads,
                              hidden_dim=hidden_dim, max_position_embeddings=max_position_embeddings,
                              num_labels=num_labels, id2label=dict(enumerate(names)),
                              label2id={n: i for i, n in enumerate(names)},
                              pad_token_id=getattr(tokenizer, "pad_token_id", None) or 0)
    return DistilBertForSequenceClassification(config)


def _special_ids(tokenizer: Any) -> dict[str, int]:
    if tokenizer is None:
        return {}
    out = {}
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        value = getattr(tokenizer, name, None)
        if value is not None:
            out[name] = value
    return out


def save_tiny(model: Any, tokenizer: Any, path: str | os.PathLike) -> Path:
    """Save a model (safetensors) and its tokenizer into one folder that ``from_pretrained`` loads."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    if getattr(model, "generation_config", None) is not None and tokenizer.pad_token_id is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.generation_config.save_pretrained(folder)
    return folder


def build_tiny(kind: str, corpus: str | Iterable[str] = DEFAULT_CORPUS, vocab_size: int = 512,
               seed: int = 0) -> tuple[Any, Any]:
    """A (model, tokenizer) pair of the given kind ("llama", "gpt2", "bert-classifier"), in memory."""
    if kind == "llama":
        tok = build_tokenizer(corpus, vocab_size, style="llama")
        return tiny_llama(len(tok), seed=seed, tokenizer=tok), tok
    if kind == "gpt2":
        tok = build_tokenizer(corpus, vocab_size, style="gpt2", model_max_length=256)
        return tiny_gpt2(len(tok), seed=seed, tokenizer=tok), tok
    if kind == "bert-classifier":
        tok = build_tokenizer(corpus, vocab_size, style="bert", model_max_length=256)
        return tiny_bert_classifier(len(tok), seed=seed, tokenizer=tok), tok
    raise ValueError(f"Unknown tiny model kind {kind!r}: use one of {', '.join(TINY_KINDS)}.")


def tiny_model_dir(kind: str, path: str | os.PathLike | None = None, rebuild: bool = False) -> Path:
    """A folder holding a tiny model of this kind and its tokenizer, built once and reused."""
    from helpers.cache import build_once, data_dir

    if kind not in TINY_KINDS:
        raise ValueError(f"Unknown tiny model kind {kind!r}: use one of {', '.join(TINY_KINDS)}.")
    folder = Path(path) if path is not None else data_dir("tiny-models") / kind
    if rebuild:
        shutil.rmtree(folder, ignore_errors=True)

    def build(tmp: Path) -> None:
        model, tok = build_tiny(kind)
        save_tiny(model, tok, tmp)
        n = sum(p.numel() for p in model.parameters())
        (tmp / "tiny-model.json").write_text(json.dumps({"kind": kind, "parameters": n, "vocab": len(tok),
                                                         "version": TINY_VERSION}))

    return build_once(folder, build, version=TINY_VERSION)


# Published architectures (from each repository's config.json on the Hugging Face Hub), so that memory
# can be measured at real size without downloading weights.
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "meta-llama/Llama-3.2-1B": dict(model_type="llama", vocab_size=128256, hidden_size=2048,
                                    intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                                    num_key_value_heads=8, head_dim=64, tie_word_embeddings=True,
                                    max_position_embeddings=131072, rope_theta=500000.0),
    "meta-llama/Llama-3.2-3B": dict(model_type="llama", vocab_size=128256, hidden_size=3072,
                                    intermediate_size=8192, num_hidden_layers=28, num_attention_heads=24,
                                    num_key_value_heads=8, head_dim=128, tie_word_embeddings=True,
                                    max_position_embeddings=131072, rope_theta=500000.0),
    "meta-llama/Meta-Llama-3-8B": dict(model_type="llama", vocab_size=128256, hidden_size=4096,
                                       intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                                       num_key_value_heads=8, tie_word_embeddings=False,
                                       max_position_embeddings=8192, rope_theta=500000.0),
    "HuggingFaceTB/SmolLM2-1.7B-Instruct": dict(model_type="llama", vocab_size=49152, hidden_size=2048,
                                                intermediate_size=8192, num_hidden_layers=24,
                                                num_attention_heads=32, num_key_value_heads=32,
                                                tie_word_embeddings=True, max_position_embeddings=8192,
                                                rope_theta=130000.0),
    "HuggingFaceTB/SmolLM2-360M-Instruct": dict(model_type="llama", vocab_size=49152, hidden_size=960,
                                                intermediate_size=2560, num_hidden_layers=32,
                                                num_attention_heads=15, num_key_value_heads=5,
                                                tie_word_embeddings=True, max_position_embeddings=8192,
                                                rope_theta=100000.0),
}


def real_config(name: str) -> Any:
    """The transformers config of a real architecture listed in ``ARCHITECTURES`` (no download)."""
    from transformers import AutoConfig

    if name not in ARCHITECTURES:
        raise ValueError(f"No stored architecture for {name!r}; known: {', '.join(ARCHITECTURES)}. "
                         "For another model, AutoConfig.from_pretrained(name) downloads only its config.")
    kwargs = dict(ARCHITECTURES[name])
    return AutoConfig.for_model(kwargs.pop("model_type"), **kwargs)


def replica(name_or_config: Any, device: str = "meta", dtype: Any = None) -> Any:
    """A model with a real architecture and random weights (on ``meta``: shapes only, no memory)."""
    import torch
    from transformers import AutoModelForCausalLM

    config = real_config(name_or_config) if isinstance(name_or_config, str) else name_or_config
    with torch.device(device):
        return AutoModelForCausalLM.from_config(config, dtype=dtype or torch.bfloat16)


def count_parameters(model: Any, trainable_only: bool = False) -> int:
    """Number of parameters (works on ``meta`` models; tied weights counted once)."""
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total
