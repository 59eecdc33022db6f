"""Architectures for the planner: read a config.json (or a preset), count its parameters exactly.

A preset is a small JSON file in this folder (``helpers/presets/``): the fields of the model's published
``config.json`` that the arithmetic needs, plus ``_source`` (where they come from),
``_published_params`` and ``_published_source`` (the count the model card or paper gives).
Parameter counts are computed from the shapes, layer by layer, and the tests prove them equal
to the real transformers model built on the ``meta`` device. Diffusers components (UNet, VAE)
are too irregular to count by formula: their presets carry ``_params``, counted once with
diffusers on the meta device (the tests recount it).

Taught in week 6 (06a-running-an-llm-on-12gb, 06b-where-the-memory-goes), through ``helpers.planner``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRESET_DIR = Path(__file__).resolve().parent
GIB = 2**30  # the course's one definition of the binary units (what PyTorch and nvidia-smi report)
# VRAM kept free beyond any need the course computes or measures: the caching allocator's slack and libraries'
# own buffers. The one margin of the course: the batch search, the ladders and the doctor's verdicts all keep it.
MARGIN_GIB = 0.5
MIB = 2**20

# Card memory in GiB as PyTorch reports it (total_memory), rounded; sources: NVIDIA product pages.
GPUS: dict[str, tuple[str, float]] = {
    "rtx4060-8gb": ("RTX 4060 (8 GB)", 8.0),
    "rtx3060-12gb": ("RTX 3060 (12 GB)", 12.0),
    "rtx4070ti": ("RTX 4070 Ti (12 GB)", 12.0),
    "rtx4070ti-super": ("RTX 4070 Ti SUPER (16 GB)", 16.0),
    "rtx4090": ("RTX 4090 (24 GB)", 24.0),
    "t4": ("Tesla T4 (16 GB, Colab; about 15 GiB usable)", 16.0),
    "a100-40gb": ("A100 40 GB", 40.0),
    "a100-80gb": ("A100 80 GB", 80.0),
    "h100": ("H100 80 GB", 80.0),
    "h200": ("H200 (141 GB; PyTorch sees about 139.8 GiB)", 139.8),
}

DECODERS = ("llama", "mistral")  # llama-style blocks: RMSNorm, rotary, SwiGLU MLP, optional GQA


@dataclass(frozen=True)
class Arch:
    """The shapes of one model that memory depends on (read from its config.json)."""

    name: str
    family: str  # llama | gpt2 | bert | distilbert | clip | component
    vocab: int = 0
    hidden: int = 0
    layers: int = 0
    heads: int = 0
    kv_heads: int = 0
    head_dim: int = 0
    intermediate: int = 0
    max_positions: int = 0
    tied: bool = False
    attention_bias: bool = False
    mlp_bias: bool = False
    sliding_window: int | None = None
    type_vocab: int = 0
    projection: int = 0
    fixed_params: int | None = None
    source: str = ""

    @property
    def causal_lm(self) -> bool:
        """True for decoder-only language models (they have a KV cache and an LM head)."""
        return self.family in ("llama", "gpt2")

    def block_linears(self) -> list[tuple[str, int, int]]:
        """The linear layers of one transformer block as (name, in_features, out_features)."""
        h, i = self.hidden, self.intermediate
        if self.family == "llama":
            q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
            return [("q_proj", h, q), ("k_proj", h, kv), ("v_proj", h, kv), ("o_proj", q, h),
                    ("gate_proj", h, i), ("up_proj", h, i), ("down_proj", i, h)]
        if self.family == "gpt2":
            return [("c_attn", h, 3 * h), ("c_proj", h, h), ("c_fc", h, i), ("mlp.c_proj", i, h)]
        if self.family in ("bert", "distilbert", "clip"):
            return [("query", h, h), ("key", h, h), ("value", h, h), ("attention.output", h, h),
                    ("intermediate", h, i), ("output", i, h)]
        return []

    def params_by_kind(self) -> dict[str, int]:
        """Parameters split into ``linear`` (quantisable block weights), ``embedding``, ``head``, ``other``."""
        if self.family == "component":
            return {"linear": 0, "embedding": 0, "head": 0, "other": int(self.fixed_params or 0)}
        h, n = self.hidden, self.layers
        lin_w = sum(i * o for _, i, o in self.block_linears())
        lin_b = sum(o for _, _, o in self.block_linears())
        if self.family == "llama":
            bias = (self.heads + 2 * self.kv_heads) * self.head_dim + h if self.attention_bias else 0
            bias += 2 * self.intermediate + h if self.mlp_bias else 0
            other = n * (2 * h + bias) + h  # two RMSNorms a block, the final norm, optional biases
            emb = self.vocab * h
        elif self.family == "gpt2":
            other = n * (4 * h + lin_b) + 2 * h  # two LayerNorms a block + biases, final LayerNorm
            emb = (self.vocab + self.max_positions) * h
        elif self.family == "bert":
            other = n * (4 * h + lin_b) + 2 * h + h * h + h  # LayerNorms, biases, embeddings LN, pooler
            emb = (self.vocab + self.max_positions + self.type_vocab) * h
        elif self.family == "distilbert":
            other = n * (4 * h + lin_b) + 2 * h
            emb = (self.vocab + self.max_positions) * h
        else:  # clip text encoder
            other = n * (4 * h + lin_b) + 2 * h
            emb = (self.vocab + self.max_positions) * h
        head = self.vocab * h if self.causal_lm and not self.tied else 0
        head += self.projection * h  # CLIPTextModelWithProjection's text_projection (no bias)
        return {"linear": n * lin_w, "embedding": emb, "head": head, "other": other}

    @property
    def params(self) -> int:
        """Total parameter count (tied embeddings counted once, as ``model.parameters()`` does)."""
        return sum(self.params_by_kind().values())


def _need(cfg: dict, key: str, where: str, model_type: str) -> Any:
    if key not in cfg or cfg[key] is None:
        raise ValueError(f"{where}: the config has no field '{key}', which a {model_type} model needs. "
                         "Copy it from the model's config.json.")
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{where}: field '{key}' must be a positive whole number, got {value!r}.")
    return value


def arch_from_config(cfg: dict, name: str = "model", where: str = "config") -> Arch:
    """Build an :class:`Arch` from a config.json dict (transformers or diffusers field names)."""
    if not isinstance(cfg, dict):
        raise ValueError(f"{where}: a config must be a JSON object (a dict), got {type(cfg).__name__}.")
    src = cfg.get("_source", where)
    name = cfg.get("_name", name)
    if "_class_name" in cfg or "_params" in cfg:
        params = cfg.get("_params")
        if not isinstance(params, int) or params <= 0:
            raise ValueError(f"{where}: a diffusers component config needs '_params' (its parameter count); "
                             "count it with sum(p.numel() for p in model.parameters()).")
        return Arch(name=name, family="component", fixed_params=params, source=src)
    mt = cfg.get("model_type")
    if mt in DECODERS:
        h = _need(cfg, "hidden_size", where, mt)
        heads = _need(cfg, "num_attention_heads", where, mt)
        kv = cfg.get("num_key_value_heads") or heads
        head_dim = cfg.get("head_dim") or h // heads
        return Arch(name=name, family="llama", vocab=_need(cfg, "vocab_size", where, mt), hidden=h,
                    layers=_need(cfg, "num_hidden_layers", where, mt), heads=heads, kv_heads=kv, head_dim=head_dim,
                    intermediate=_need(cfg, "intermediate_size", where, mt),
                    max_positions=cfg.get("max_position_embeddings", 2048),
                    tied=bool(cfg.get("tie_word_embeddings", False)),
                    attention_bias=bool(cfg.get("attention_bias", False)), mlp_bias=bool(cfg.get("mlp_bias", False)),
                    sliding_window=cfg.get("sliding_window") if mt == "mistral" else None, source=src)
    if mt == "gpt2":
        h = _need(cfg, "n_embd", where, mt)
        heads = _need(cfg, "n_head", where, mt)
        return Arch(name=name, family="gpt2", vocab=_need(cfg, "vocab_size", where, mt), hidden=h,
                    layers=_need(cfg, "n_layer", where, mt), heads=heads, kv_heads=heads, head_dim=h // heads,
                    intermediate=cfg.get("n_inner") or 4 * h, max_positions=_need(cfg, "n_positions", where, mt),
                    tied=True, source=src)
    if mt in ("bert", "clip_text_model"):
        h = _need(cfg, "hidden_size", where, mt)
        heads = _need(cfg, "num_attention_heads", where, mt)
        proj = cfg.get("projection_dim", 0) if "CLIPTextModelWithProjection" in cfg.get("architectures", []) else 0
        return Arch(name=name, family="bert" if mt == "bert" else "clip", vocab=_need(cfg, "vocab_size", where, mt),
                    hidden=h, layers=_need(cfg, "num_hidden_layers", where, mt), heads=heads, kv_heads=heads,
                    head_dim=h // heads, intermediate=_need(cfg, "intermediate_size", where, mt),
                    max_positions=_need(cfg, "max_position_embeddings", where, mt),
                    type_vocab=cfg.get("type_vocab_size", 2) if mt == "bert" else 0, projection=proj, source=src)
    if mt == "distilbert":
        h = _need(cfg, "dim", where, mt)
        heads = _need(cfg, "n_heads", where, mt)
        return Arch(name=name, family="distilbert", vocab=_need(cfg, "vocab_size", where, mt), hidden=h,
                    layers=_need(cfg, "n_layers", where, mt), heads=heads, kv_heads=heads, head_dim=h // heads,
                    intermediate=_need(cfg, "hidden_dim", where, mt),
                    max_positions=_need(cfg, "max_position_embeddings", where, mt), source=src)
    if mt is None:
        raise ValueError(f"{where}: the config has no field 'model_type'; the planner reads llama, mistral, "
                         "gpt2, bert, distilbert and clip_text_model configs (or a diffusers config with _params).")
    raise ValueError(f"{where}: model_type {mt!r} is not one the planner knows yet; it reads llama, mistral, "
                     "gpt2, bert, distilbert and clip_text_model configs.")


def preset_names() -> list[str]:
    """Names of the bundled presets (``llama-3-8b``, ``gpt2``, ``sd15-unet``, ...)."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def preset_config(name: str) -> dict:
    """The stored config dict of a preset (with its ``_source``)."""
    path = PRESET_DIR / f"{name.strip().lower()}.json"
    if not path.is_file():
        raise ValueError(f"Unknown model {name!r}. Presets: {', '.join(preset_names())}; "
                         "or pass a path to a config.json.")
    return json.loads(path.read_text())


def load_arch(model: str | dict | Path | Arch) -> Arch:
    """An :class:`Arch` from a preset name, a path to a config.json, a config dict or an Arch."""
    if isinstance(model, Arch):
        return model
    if isinstance(model, dict):
        return arch_from_config(model)
    text = str(model)
    path = Path(text).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        path = path / "config.json"
    if path.is_file():
        try:
            cfg = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: cannot read it as JSON ({err}).") from None
        return arch_from_config(cfg, name=path.parent.name or path.stem, where=str(path))
    if text.endswith(".json") or "/" in text:
        raise ValueError(f"{text}: no such file. Pass a preset name ({', '.join(preset_names()[:4])}, ...) "
                         "or a path to a config.json.")
    return arch_from_config(preset_config(text), name=text, where=f"preset {text}")


def gpu_vram_gib(name: str) -> tuple[str, float]:
    """(label, GiB) of a card name such as ``rtx4070ti`` or ``t4``."""
    key = name.strip().lower().replace(" ", "").replace("_", "-")
    if key not in GPUS:
        raise ValueError(f"Unknown GPU {name!r}: use one of {', '.join(GPUS)}, or give --vram in GiB.")
    return GPUS[key]
