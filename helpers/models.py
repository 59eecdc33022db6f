"""Tiny random models built offline for the smoke profile: language models and Stable Diffusion.

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
- ``tiny_tokenizer()`` / ``tiny_pipeline(path=None)``: a small CLIP tokenizer and a tiny random Stable
  Diffusion pipeline (UNet, VAE, CLIP text encoder), saved once so ``from_pretrained`` loads it (week 8).
- ``count_parameters(model, trainable_only=False)``: the parameters of a model, tied weights once.

Real architectures at full size (random weights, no download) are ``helpers.planner_check.build``
on a preset of ``helpers.presets``.

Taught in week 5 (05a-transformers-for-nlp); used again in 06a, 07a, e6.
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
        n = count_parameters(model)
        (tmp / "tiny-model.json").write_text(json.dumps({"kind": kind, "parameters": n, "vocab": len(tok),
                                                         "version": TINY_VERSION}))

    return build_once(folder, build, version=TINY_VERSION)


# Words the tiny CLIP tokenizer of the tiny Stable Diffusion pipeline keeps whole.
TINY_WORDS = ("a photo painting drawing of the cat dog red blue green yellow circle square triangle shapes "
              "in style sks bright dark blurry ugly house tree sky mountain lake night day sun moon city "
              "portrait watercolor oil flat bold colours colorful black white outline").split()


def tiny_tokenizer(max_length: int = 77) -> Any:
    """A small CLIP BPE tokenizer built in memory (vocab dict + merges list, never the files trap)."""
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for token in chars + [c + "</w>" for c in chars]:
        vocab.setdefault(token, len(vocab))
    merges: list[tuple[str, str]] = []
    for word in TINY_WORDS:  # merge each word left to right, so common words become one token
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        while len(pieces) > 1:
            pair = (pieces[0], pieces[1])
            if pair not in merges:
                merges.append(pair)
            pieces = [pieces[0] + pieces[1]] + pieces[2:]
            vocab.setdefault(pieces[0], len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=max_length)


TINY_SD_VERSION = 2  # bump when the tiny Stable Diffusion pipeline changes, so cached copies are rebuilt


def tiny_pipeline(path: str | Path | None = None, seed: int = 0) -> Path:
    """Build a tiny random Stable Diffusion pipeline offline, save it once, return its folder."""
    from helpers.cache import build_once, data_dir

    target = Path(path) if path is not None else data_dir("tiny-sd")

    def build(tmp: Path) -> None:
        from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
        from transformers import CLIPTextConfig, CLIPTextModel

        from helpers.diffusion import quiet

        quiet()
        _seeded(seed)
        tokenizer = tiny_tokenizer()
        # Attention and MLP widths are multiples of 64, which every bitsandbytes kernel accepts.
        unet = UNet2DConditionModel(
            sample_size=16, in_channels=4, out_channels=4, block_out_channels=(64, 64), layers_per_block=1,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=64, attention_head_dim=8, norm_num_groups=16)
        vae = AutoencoderKL(  # three blocks: 8x smaller latents would need four; 4x keeps it tiny and fast
            sample_size=32, in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(16, 32, 64),
            down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
            layers_per_block=1, norm_num_groups=16)
        text_encoder = CLIPTextModel(CLIPTextConfig(
            vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1))
        scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                  clip_sample=False, set_alpha_to_one=False, steps_offset=1)
        pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                       scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
        pipe.save_pretrained(tmp)

    return build_once(target, build, version=TINY_SD_VERSION)


def count_parameters(model: Any, trainable_only: bool = False) -> int:
    """Number of parameters, or of trainable ones (works on ``meta`` models; a tied weight counts once,
    as ``model.parameters()`` yields it once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
