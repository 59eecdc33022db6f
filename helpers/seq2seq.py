"""Encoder-decoder (sequence-to-sequence) models: the course's translation and summary pairs, and a tiny T5.

- ``PREFIXES``: the task prefixes T5 and FLAN-T5 were trained with ("translate English to French: ", "summarize: ").
- ``pairs(task=None, split=None)``: the course's own 48 English-French sentence pairs and 20 paragraph/one-line
  summary pairs (``helpers/coursedata/seq2seq.jsonl``, made as its README says), as dicts with ``task``
  ("translate" or "summarize"), ``source``, ``target`` and ``split`` ("train" or "test").
- ``build_tokenizer(texts, vocab_size=1000)``: a T5-style tokenizer trained offline (``<pad>`` 0, ``</s>`` 1,
  ``<unk>`` 2; it appends ``</s>`` to every text, as T5's does), wrapped as a transformers fast tokenizer.
- ``tiny_t5(vocab_size, ...)``: a T5 with random weights and FLAN-T5's gated-GELU feed-forward (its LM head shares
  the input embeddings, as the original T5's does): the smoke profile's stand-in for ``google/flan-t5-base``.
- ``tiny_t5_dir(path=None)``: that model and its tokenizer saved once (safetensors), a folder that
  ``AutoModelForSeq2SeqLM.from_pretrained`` and ``AutoTokenizer.from_pretrained`` load like a Hub model.

Taught in week 5 (05c-translate-and-summarise).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

PREFIXES = {"translate": "translate English to French: ", "summarize": "summarize: "}
TASKS = tuple(PREFIXES)
SPLITS = ("train", "test")
TINY_T5_VERSION = 1  # bump when the tiny T5 changes, so cached folders are rebuilt


def pairs(task: str | None = None, split: str | None = None) -> list[dict[str, str]]:
    """The course's translation and summary pairs (``{"task", "source", "target", "split"}``), optionally filtered."""
    from importlib.resources import files

    if task is not None and task not in TASKS:
        raise ValueError(f"Unknown task {task!r}: use one of {', '.join(TASKS)} (or None for both).")
    if split is not None and split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}: use one of {', '.join(SPLITS)} (or None for both).")
    text = (files("helpers") / "coursedata" / "seq2seq.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [r for r in rows if (task is None or r["task"] == task) and (split is None or r["split"] == split)]


def build_tokenizer(texts: Iterable[str], vocab_size: int = 1000, model_max_length: int = 512) -> Any:
    """Train a T5-style BPE tokenizer offline: ``<pad>`` 0, ``</s>`` 1, ``<unk>`` 2, ``</s>`` appended to each text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "</s>", "<unk>"]  # T5's ids: pad 0 (also the decoder's start token), eos 1, unk 2
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")  # as SentencePiece
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    alphabet = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'-()éèêàâçôûùîœ▁")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, initial_alphabet=alphabet,
                                  show_progress=False)
    tok.train_from_iterator([t for t in texts if t.strip()], trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", tok.token_to_id("</s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=model_max_length,
                                   pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def tiny_t5(vocab_size: int, d_model: int = 64, num_layers: int = 2, num_heads: int = 4, d_ff: int = 128,
            seed: int = 0) -> Any:
    """A T5 encoder-decoder with random weights: gated-GELU feed-forward, LM head tied to the embeddings."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(seed)
    # transformers 5 builds every T5 with its LM head tied to the embeddings (and the decoder output scaled by
    # d_model**-0.5, the original T5's rule); a checkpoint with a head of its own, as FLAN-T5's, loads untied.
    # Widths are multiples of 64 (d_model 64, heads x d_kv 64, d_ff 128), as every tiny model of the course.
    config = T5Config(vocab_size=vocab_size, d_model=d_model, d_kv=d_model // num_heads, d_ff=d_ff,
                      num_layers=num_layers, num_decoder_layers=num_layers, num_heads=num_heads,
                      feed_forward_proj="gated-gelu", dropout_rate=0.0,
                      pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    return T5ForConditionalGeneration(config)


def _corpus() -> list[str]:
    from helpers.models import DEFAULT_CORPUS

    train = pairs(split="train")
    return ([*PREFIXES.values()] + [r["source"] for r in train] + [r["target"] for r in train]
            + DEFAULT_CORPUS.splitlines())


def tiny_t5_dir(path: str | os.PathLike | None = None, seed: int = 0) -> Path:
    """A folder with the tiny random T5 and its tokenizer, built once, ready for ``from_pretrained``."""
    from helpers.cache import build_once, data_dir
    from helpers.models import count_parameters

    folder = Path(path) if path is not None else data_dir("tiny-models") / "t5"

    def build(tmp: Path) -> None:
        tok = build_tokenizer(_corpus())
        model = tiny_t5(len(tok), seed=seed)
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        (tmp / "tiny-model.json").write_text(json.dumps({"kind": "t5", "parameters": count_parameters(model),
                                                         "vocab": len(tok), "version": TINY_T5_VERSION}))

    return build_once(folder, build, version=TINY_T5_VERSION)
