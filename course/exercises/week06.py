"""Exercises for week 6, "Running an LLM on 12 GB": a BitsAndBytesConfig, the KV cache, the bandwidth
roofline, what fits, chat templates."""

from __future__ import annotations

from typing import Any

from course.exercises import Case, Exercise, LearnerError, NotAnswered, choice, near, same_as
from course.syllabus import objective
from helpers.presets import GIB

NOTEBOOK = "06a-running-an-llm-on-12gb"
CHAT_OBJ = objective(NOTEBOOK, "Chat with a")
PLAN_OBJ = objective(NOTEBOOK, "Ask the planner")
QUANT_OBJ = objective(NOTEBOOK, "Write a BitsAndBytesConfig")
KV_OBJ = objective(NOTEBOOK, "Measure the memory")


# Llama-3.1-8B's published architecture (config.json on the Hugging Face Hub).
LAYERS, KV_HEADS, HEAD_DIM = 32, 8, 128


def _q1_solve() -> float:
    tokens = 12288  # a length no rung's sweep measures
    return 2 * LAYERS * tokens * KV_HEADS * HEAD_DIM * 2 / GIB  # K and V, per layer, per token, bf16


# 1.5 GiB exactly: 1% is room for rounding, not for 12,000 tokens (2.3% less) or a GB figure.
_q1_check = near(_q1_solve(), rel=0.01, unit="GiB", mistakes={
    _q1_solve() / 2: "Count both the keys and the values (the factor 2 in front), each 2 bytes a value in bf16.",
    _q1_solve() * 4: "Llama-3 uses grouped-query attention: 8 KV heads, not 32 (one per query head).",
    _q1_solve() * GIB / 1e9: "That is in GB; divide bytes by 2**30 for GiB.",
    _q1_solve() * 2: "The cache is bf16: 2 bytes a value, not 4.",
    _q1_solve() * 12000 / 12288: "The sequence has 12,288 tokens (12 x 1024), not 12,000.",
    _q1_solve() / LAYERS: f"That is one layer's cache: every one of the {LAYERS} layers keeps its own keys and values.",
    _q1_solve() * 1024: "That is in MiB; divide by 1024 once more (2**30 bytes a GiB).",
    _q1_solve() * GIB: "That is in bytes; divide by 2**30 for GiB.",
    _q1_solve() * 8: "That counts bits; a bf16 value takes 2 bytes, and a GiB is 2**30 bytes.",
})


q1 = Exercise(
    "q1",
    f"Llama-3.1-8B has {LAYERS} layers, {KV_HEADS} KV heads of dimension {HEAD_DIM}. How many GiB does its "
    "bf16 KV cache take for one sequence of 12,288 tokens? (The notebook measured other lengths: compute "
    "this one.)",
    _q1_check,
    "2 (K and V) x layers x tokens x KV heads x head_dim x 2 bytes; compare with helpers.planner.kv_cache_bytes. "
    "05b-build-a-gpt shows where K and V come from and why grouped-query attention keeps fewer KV heads.",
    _q1_solve,
    objective=KV_OBJ,
)

# q2: the roofline for a card and a model the notebook does not print.
RTX4060_GBS = 272.0  # NVIDIA's RTX 4060 spec page (helpers.gpu_specs.memory_bandwidth_gbs)
READ_GB = 2.24  # Llama-3.2-3B in NF4, per generated token: helpers.llm.bytes_per_token("llama-3.2-3b", 4) / 1e9


def _q2_solve() -> float:
    return RTX4060_GBS / READ_GB  # each new token reads every weight once


q2 = Exercise(
    "q2",
    f"An RTX 4060 (8 GB) moves {RTX4060_GBS:g} GB/s. Generating one token with Llama-3.2-3B-Instruct in 4-bit "
    f"NF4 reads {READ_GB} GB (its 4-bit layers and its 16-bit tied embedding/head, per the planner). What is "
    "the upper bound on its tokens per second on that card?",
    near(_q2_solve(), rel=0.02, unit="tokens/s", mistakes={
        READ_GB / RTX4060_GBS: "Divide the bandwidth by the bytes per token, not the other way round.",
        RTX4060_GBS / (READ_GB * 1e9 / GIB): "Keep both in GB (10^9 bytes): the card's figure is GB/s, not GiB/s.",
        RTX4060_GBS * 1e9 / GIB / READ_GB: "Keep both in GB (10^9 bytes): converting only the bandwidth to GiB/s "
                                            "divides GiB by GB.",
        RTX4060_GBS / 6.43: "That is the 16-bit model (6.43 GB a token); the question is about NF4.",
        READ_GB / RTX4060_GBS * 1000: "That is milliseconds per token; the question asks for tokens per second "
                                      "(bandwidth / bytes per token).",
        RTX4060_GBS / (READ_GB * 8): f"{READ_GB} GB are already bytes (4 bits each were counted into them): "
                                     "don't multiply by 8.",
        RTX4060_GBS / 8: "8 GB is the card's memory, not what one token reads: divide by the 2.24 GB read per token.",
    }),
    "Tokens per second <= bandwidth (GB/s) / bytes read per token (GB). Measured speeds reach a fraction of it.",
    _q2_solve,
    objective=QUANT_OBJ,
)

q3 = Exercise(
    "q3",
    "Which fits a 12 GB card with room for a 4k-token context: (a) Llama-3.1-8B in bf16, (b) Mistral-7B "
    "(7.2B parameters, 8 KV heads) in 8-bit, (c) Llama-3-70B in 4-bit?",
    choice("b", {"a": "8B parameters x 2 bytes is about 15 GiB of weights: more than the card has.",
                 "c": "70B x 0.5 bytes is about 33 GiB: no 12 GB card holds it."}),
    "Weights first: parameters x bytes per parameter (2 for bf16, about 1 for 8-bit, about 0.5 for 4-bit); "
    "then add the KV cache (0.5 GiB at 4k tokens with 8 KV heads) and about 1 GiB of overhead. Check with "
    "python -m course plan.",
    lambda: "b",
    objective=PLAN_OBJ,
)

q4 = Exercise(
    "q4",
    "You call tok.apply_chat_template(messages, tokenize=False) and then tok(text). What goes wrong? "
    "(a) nothing; (b) the beginning-of-text token appears twice; (c) the assistant turn is dropped",
    choice("b", {"a": "look at the first ids: the template writes <|begin_of_text|>, and tok() adds another.",
                 "c": "the template keeps every turn; the problem is at the very start."}),
    "The chat template already starts with the BOS token; tokenizing adds special tokens again unless "
    "add_special_tokens=False.",
    lambda: "b",
    objective=CHAT_OBJ,
)


# q5 (code): the quantization_config for 16, 8 or 4 bits, for any compute dtype (the notebook wrote one NF4 config
# for its own card; this one serves every card: a T4 computes in fp16, a CPU in fp32).
def quant_config(bits: int, compute_dtype: Any) -> Any:
    """What from_pretrained needs for ``bits``: None (16: no quantisation), LLM.int8 (8), or NF4 with double
    quantisation computing in ``compute_dtype`` (4)."""
    from transformers import BitsAndBytesConfig

    if bits == 16:
        return None  # no quantization_config at all: the weights load as they are
    if bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute_dtype)


def _double_quant_saving_gb() -> float:
    from helpers import planner

    arch = planner.load_arch("llama-3.1-8b")
    return (planner.weight_bytes(arch, 4, double_quant=False) - planner.weight_bytes(arch, 4)) / 1e9


_FIELDS = ("load_in_8bit", "load_in_4bit", "bnb_4bit_quant_type", "bnb_4bit_use_double_quant", "bnb_4bit_compute_dtype")
_INT8_FIELDS = ("llm_int8_has_fp16_weight", "llm_int8_threshold")  # what LLM.int8 keeps in memory, and its outliers


def _compare_configs(got: Any, expected: Any) -> str | None:
    """None if ``got`` asks from_pretrained for what ``expected`` asks, else the first field that differs."""
    from transformers import BitsAndBytesConfig

    if expected is None:
        return None if got is None else (f"expected None (16 bits: no quantization_config at all), got "
                                         f"{type(got).__name__}.")
    if not isinstance(got, BitsAndBytesConfig):
        return f"expected a transformers BitsAndBytesConfig, got {type(got).__name__}."
    fields = _FIELDS if expected.load_in_4bit else _FIELDS[:2] + _INT8_FIELDS  # 8 bits ignores the 4-bit fields
    for name in fields:
        if getattr(got, name) != getattr(expected, name):
            return f"{name} is {getattr(got, name)!r}; expected {getattr(expected, name)!r}."
    return None


def _fp4(bits, compute_dtype):  # noqa: ANN001, ANN202
    config = quant_config(bits, compute_dtype)
    if bits == 4:
        config.bnb_4bit_quant_type = "fp4"
    return config


def _no_double_quant(bits, compute_dtype):  # noqa: ANN001, ANN202
    config = quant_config(bits, compute_dtype)
    if bits == 4:
        config.bnb_4bit_use_double_quant = False
    return config


def _int8_fp16_weights(bits, compute_dtype):  # noqa: ANN001, ANN202
    from transformers import BitsAndBytesConfig

    if bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_has_fp16_weight=True)
    return quant_config(bits, compute_dtype)


def _always_bf16(bits, compute_dtype):  # noqa: ANN001, ANN202
    import torch

    return quant_config(bits, torch.bfloat16)


def _default_compute(bits, compute_dtype):  # noqa: ANN001, ANN202
    import torch

    return quant_config(bits, torch.float32)


def _always_4bit(bits, compute_dtype):  # noqa: ANN001, ANN202
    return quant_config(4 if bits == 8 else bits, compute_dtype)


def _empty_config_for_16(bits, compute_dtype):  # noqa: ANN001, ANN202
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig() if bits == 16 else quant_config(bits, compute_dtype)


def _via_the_course_helper(bits, compute_dtype):  # noqa: ANN001, ANN202
    from helpers import llm

    return llm.quant_config({16: None, 8: "8bit", 4: "4bit"}[bits], compute_dtype=compute_dtype)


def _if_elif(bits, compute_dtype):  # noqa: ANN001, ANN202
    """4 first, 8 next, and None falls out for 16; the compute dtype given as its name (transformers converts it)."""
    from transformers import BitsAndBytesConfig

    if bits == 4:
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                  bnb_4bit_compute_dtype=str(compute_dtype).removeprefix("torch."))
    if bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_threshold=6.0)  # 6.0: LLM.int8's default
    return None


def _from_a_table(bits, compute_dtype):  # noqa: ANN001, ANN202
    from transformers import BitsAndBytesConfig

    fields = {8: dict(load_in_8bit=True),
              4: dict(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                      bnb_4bit_compute_dtype=compute_dtype)}
    return BitsAndBytesConfig(**fields[bits]) if bits in fields else None


def _q5_cases() -> list[Case]:
    import torch

    return [Case("bits=4 on a recent GPU (compute_dtype=torch.bfloat16)", (4, torch.bfloat16)),
            Case("bits=8 (compute_dtype=torch.bfloat16)", (8, torch.bfloat16)),
            Case("bits=4 on a T4 (compute_dtype=torch.float16)", (4, torch.float16)),
            Case("bits=16 (compute_dtype=torch.bfloat16)", (16, torch.bfloat16)),
            Case("bits=4 on a CPU (compute_dtype=torch.float32)", (4, torch.float32))]


q5 = Exercise(
    "q5",
    "Complete quant_config(bits, compute_dtype): what from_pretrained(..., quantization_config=...) needs to load a "
    "model at 16, 8 or 4 bits. 16: None (no quantisation); 8: LLM.int8; 4: NF4 weights with double quantisation, "
    "dequantised to compute_dtype for each matrix multiply. The checker tries every bit width with the compute "
    "dtypes of a recent GPU (bf16), a T4 (fp16) and a CPU (fp32).",
    same_as(quant_config, _q5_cases, compare=_compare_configs, expects="your quant_config function", mistakes=[
        (_always_4bit, "bits=8 asks for LLM.int8 (load_in_8bit=True), not 4-bit weights."),
        (_empty_config_for_16, "for 16 bits return None: an empty BitsAndBytesConfig is still a quantization_config, "
                               "and transformers would try to quantise with it."),
        (_fp4, "the quant type is fp4 (the default): NF4 needs bnb_4bit_quant_type=\"nf4\"; its 16 levels are placed "
               "for normally distributed weights."),
        (_no_double_quant, f"double quantisation is off: bnb_4bit_use_double_quant=True also quantises the block "
                           f"scales, about {_double_quant_saving_gb():.2f} GB less on Llama-3.1-8B."),
        (_always_bf16, "you wrote torch.bfloat16 instead of the compute_dtype you were given: a T4 has no fast bf16 and "
                       "a CPU computes in fp32 (helpers.gpu.precision picks it for each device)."),
        (_default_compute, "the compute dtype is float32 (the default when you leave it out): pass "
                           "bnb_4bit_compute_dtype=compute_dtype."),
        (_int8_fp16_weights, "llm_int8_has_fp16_weight=True keeps the 16-bit weights in memory (it is for training "
                             "them): for loading in 8 bits, load_in_8bit=True is all it takes."),
    ], alternatives=[_via_the_course_helper, _from_a_table, _if_elif]),
    "BitsAndBytesConfig(load_in_8bit=True) for 8 bits; for 4: load_in_4bit=True, bnb_4bit_quant_type, "
    "bnb_4bit_use_double_quant and bnb_4bit_compute_dtype; for 16 bits no config at all.",
    lambda: quant_config,
    objective=QUANT_OBJ,
    kind="code",
)


# q6 (code): the KV cache's size from a config.json, checked against the planner.
def kv_cache_bytes(config: dict, tokens: int, batch: int = 1, bytes_per_value: int = 2) -> int:
    """Bytes of the keys and values cached for ``batch`` sequences of ``tokens`` tokens."""
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads  # absent: one KV head per query head (MHA)
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    return 2 * config["num_hidden_layers"] * batch * tokens * kv_heads * head_dim * bytes_per_value


def _planner_kv(config: dict, tokens: int, batch: int = 1, bytes_per_value: int = 2) -> int:
    from helpers import planner

    return planner.kv_cache_bytes(planner.load_arch(config), batch, tokens, bytes_per_value)


def _config(preset: str, drop: tuple[str, ...] = (), **changes: Any) -> dict:
    from helpers.presets import preset_config

    cfg = {k: v for k, v in preset_config(preset).items() if not k.startswith("_") and k not in drop}
    return cfg | changes


def _q6_cases() -> list[Case]:
    qwen_like = _config("llama-3.2-3b", hidden_size=2560, num_attention_heads=32, num_key_value_heads=8,
                        head_dim=128, num_hidden_layers=36)
    return [
        # first an 8-bit (fp8) cache: a fixed 2 bytes a value then gives twice the answer, not the half that
        # forgetting V gives, so the feedback can tell the two apart
        Case("Llama-3.2-3B (24 query heads share 8 KV heads, 3 to 1), batch 3 x 2048 tokens, an 8-bit cache "
             "(1 byte a value)", (_config("llama-3.2-3b"), 2048), {"batch": 3, "bytes_per_value": 1}),
        Case("Llama-3.1-8B (32 query heads, 8 KV heads), 8192 tokens, fp32 cache (4 bytes a value)",
             (_config("llama-3.1-8b"), 8192), {"batch": 1, "bytes_per_value": 4}),
        Case("SmolLM2-1.7B (32 query heads, 32 KV heads), batch 2 x 4096 tokens, bf16",
             (_config("smollm2-1.7b"), 4096), {"batch": 2, "bytes_per_value": 2}),
        Case("a config whose head_dim (128) is not hidden_size / num_attention_heads (80), batch 3 x 1000 tokens",
             (qwen_like, 1000), {"batch": 3, "bytes_per_value": 2}),
        Case("a Llama-2-style config without num_key_value_heads (so one per query head), 1 token",
             (_config("llama-2-7b", drop=("num_key_value_heads",)), 1), {"batch": 1, "bytes_per_value": 2}),
        Case("an empty cache: 0 tokens", (_config("llama-3.1-8b"), 0), {"batch": 4, "bytes_per_value": 2}),
    ]


def _heads(config: dict) -> tuple[int, int, int]:
    """(query heads, KV heads, head_dim) read as the reference reads them."""
    heads = config["num_attention_heads"]
    return heads, config.get("num_key_value_heads") or heads, config.get("head_dim") or config["hidden_size"] // heads


def _query_heads(config: dict, tokens: int, batch: int = 1, bytes_per_value: int = 2) -> int:
    heads, _, head_dim = _heads(config)
    return 2 * config["num_hidden_layers"] * batch * tokens * heads * head_dim * bytes_per_value


def _group_size(config: dict, tokens: int, batch: int = 1, bytes_per_value: int = 2) -> int:
    heads, kv_heads, head_dim = _heads(config)
    return 2 * config["num_hidden_layers"] * batch * tokens * (heads // kv_heads) * head_dim * bytes_per_value


def _no_batch(config: dict, tokens: int, batch: int = 1, bytes_per_value: int = 2) -> int:
    return kv_cache_bytes(config, tokens, 1, bytes_per_value)


def _hidden_over_heads(config: dict, tokens: int, batch: int = 1, bytes_per_value: int = 2) -> int:
    return kv_cache_bytes({k: v for k, v in config.items() if k != "head_dim"}, tokens, batch, bytes_per_value)


def _no_bytes(config: dict, tokens: int, batch: int = 1, bytes_per_value: int = 2) -> int:
    return kv_cache_bytes(config, tokens, batch, 1)


def _keys_only(config: dict, tokens: int, batch: int = 1, bytes_per_value: int = 2) -> int:
    return kv_cache_bytes(config, tokens, batch, bytes_per_value) // 2


def _fixed_two_bytes(config: dict, tokens: int, batch: int = 1, bytes_per_value: int = 2) -> int:
    return kv_cache_bytes(config, tokens, batch, 2)


def _one_layer(config: dict, tokens: int, batch: int = 1, bytes_per_value: int = 2) -> int:
    return kv_cache_bytes(config, tokens, batch, bytes_per_value) // config["num_hidden_layers"]


def _in_gib(config: dict, tokens: int, batch: int = 1, bytes_per_value: int = 2) -> float:
    return kv_cache_bytes(config, tokens, batch, bytes_per_value) / 2**30


def _requires_kv_heads(config: dict, tokens: int, batch: int = 1, bytes_per_value: int = 2) -> int:
    head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    return 2 * config["num_hidden_layers"] * batch * tokens * config["num_key_value_heads"] * head_dim * bytes_per_value


def _per_layer_loop(config: dict, tokens: int, batch: int = 1, bytes_per_value: int = 2) -> int:
    _, kv_heads, head_dim = _heads(config)
    total = 0
    for _layer in range(config["num_hidden_layers"]):
        for _tensor in ("keys", "values"):  # one (batch, kv_heads, tokens, head_dim) tensor each
            total += batch * kv_heads * tokens * head_dim * bytes_per_value
    return total


def _with_get_defaults(config: dict, tokens: int, batch: int = 1, bytes_per_value: int = 2) -> int:
    """dict.get with a default instead of `or`, and the product as a float."""
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads", heads)
    head_dim = config.get("head_dim", config["hidden_size"] // heads)
    return float(2 * config["num_hidden_layers"] * batch * tokens * kv_heads * head_dim * bytes_per_value)


def _with_numpy(config: dict, tokens: int, batch: int = 1, bytes_per_value: int = 2) -> int:
    import numpy as np

    _, kv_heads, head_dim = _heads(config)
    return int(np.prod([2, config["num_hidden_layers"], batch, kv_heads, tokens, head_dim, bytes_per_value]))


_q6_same = same_as(_planner_kv, _q6_cases, mistakes=[
    (_query_heads, "you cached every query head: with grouped-query attention only num_key_value_heads heads "
                   "of keys and values are stored (a quarter of them on Llama-3)."),
    (_group_size, "you used num_attention_heads // num_key_value_heads, how many query heads share each KV head, "
                  "as the number of KV heads: the cache holds num_key_value_heads heads."),
    (_no_batch, "each sequence of the batch has its own cache: multiply by batch."),
    (_hidden_over_heads, "this config sets head_dim itself: use config['head_dim'] when it is there, "
                         "hidden_size // num_attention_heads only when it is not."),
    (_no_bytes, "that is a count of values, not of bytes: multiply by bytes_per_value."),
    (_keys_only, "count both the keys and the values (the factor 2)."),
    (_fixed_two_bytes, "you wrote 2 bytes a value whatever bytes_per_value says: use the argument (1 for an 8-bit "
                       "cache, 4 for fp32)."),
    (_one_layer, "that is one layer's cache: every one of the num_hidden_layers layers keeps its own keys and "
                 "values."),
    (_in_gib, "that is in GiB: return the bytes themselves (the planner divides by 2**30 when it prints)."),
], expects="your kv_cache_bytes function", alternatives=[_per_layer_loop, _with_numpy, _with_get_defaults])

MISSING_KEY = "older configs (Llama-2) leave num_key_value_heads out"


def _q6_check(answer: Any) -> str | None:
    try:
        return _q6_same(answer)
    except NotAnswered:
        raise
    except LearnerError as err:
        if not isinstance(err.__cause__, KeyError):
            raise
        return (f"your function raised KeyError {err.__cause__}: {MISSING_KEY} when every query head has its own KV "
                "head, and many leave head_dim out when it is hidden_size // num_attention_heads. Use config.get(key) "
                "and fall back.")


q6 = Exercise(
    "q6",
    "Complete kv_cache_bytes(config, tokens, batch=1, bytes_per_value=2): the bytes of keys and values cached "
    "for batch sequences of tokens tokens, from a model's config.json (a dict). It is checked against the "
    "planner on configs you do not see, with and without grouped-query attention.",
    _q6_check,
    "2 (K and V) x num_hidden_layers x batch x tokens x KV heads x head_dim x bytes_per_value. KV heads: "
    "num_key_value_heads, or num_attention_heads when absent; head_dim: the config's, or hidden_size // heads. "
    "05b-build-a-gpt builds K, V and grouped-query attention by hand.",
    lambda: kv_cache_bytes,
    objective=KV_OBJ,
    kind="code",
    wrong=(*_q6_same.mistakes, (_requires_kv_heads, MISSING_KEY)),
    right=_q6_same.alternatives,
)
