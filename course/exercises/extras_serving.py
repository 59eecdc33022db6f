"""Exercises for the extra "Serving a local LLM" (an OpenAI-compatible server)."""

from __future__ import annotations

from typing import Any

from course.exercises import Exercise, near

NOTEBOOK = "e6-serving-a-local-llm"

GIB = 2**30


def _q1_solve() -> float:
    completion_tokens, seconds = 128, 3.2
    return completion_tokens / seconds  # decode speed: new tokens per second of the request


_q1_check = near(_q1_solve(), rel=0.02, unit="tokens/s", mistakes={
    (128 + 40) / 3.2: "Count only the completion tokens: the prompt's 40 were read, not generated.",
    3.2 / 128: "That is seconds per token; tokens per second is its inverse.",
})


q1 = Exercise(
    "q1",
    "A response says usage = {prompt_tokens: 40, completion_tokens: 128}, and the request took 3.2 s. "
    "How many tokens per second did the server generate?",
    _q1_check,
    "Tokens per second counts the tokens the model generated (completion_tokens), divided by the seconds.",
    _q1_solve,
)


def _q2_solve() -> float:
    requests, seconds_each = 4, 2.0
    return requests * seconds_each  # one at a time: the last request waits for the three before it


_q2_check = near(_q2_solve(), rel=0.01, unit="s", mistakes={
    2.0: "That would be true if they ran in parallel; this server answers one request at a time.",
    6.0: "It waits 6 s in line, then needs its own 2 s.",
})


q2 = Exercise(
    "q2",
    "Four requests reach this notebook's server at the same moment; each needs 2 s of generation. "
    "How many seconds after sending does the last one get its answer?",
    _q2_check,
    "Look at the chart of section 6: the server holds a lock around generate().",
    _q2_solve,
)


def _q3_solve() -> str:
    return "127.0.0.1"


def _q3_check(answer: Any) -> str | None:
    if not isinstance(answer, str) or answer.strip() not in ("127.0.0.1", "0.0.0.0"):
        return "answer '127.0.0.1' or '0.0.0.0'."
    if answer.strip() == "0.0.0.0":
        return ("0.0.0.0 listens on every network interface: anyone on your network (or the internet, "
                "behind a forwarded port) could use your GPU. This server has no password.")
    return None


q3 = Exercise(
    "q3",
    "Which bind address keeps a server reachable only from this machine: '127.0.0.1' or '0.0.0.0'?",
    _q3_check,
    "One of them is the loopback address; the other means 'all interfaces'.",
    _q3_solve,
)


def _q4_solve() -> float:
    from helpers.memory import kv_cache_bytes, load_arch

    arch = load_arch("smollm2-1.7b")  # 24 layers, 32 KV heads of 64 dims
    return kv_cache_bytes(arch, batch=8, seq=2048, dtype_bytes=2) / GIB


_q4_check = near(_q4_solve(), rel=0.03, unit="GiB", mistakes={
    _q4_solve() / 8: "That is one conversation; the server holds all 8 caches at once.",
    _q4_solve() / 2: "Count both the keys and the values (the 2 in the formula).",
    _q4_solve() * 2: "bf16 stores 2 bytes per number, not 4.",
})


q4 = Exercise(
    "q4",
    "SmolLM2-1.7B has 24 layers and 32 key/value heads of 64 dimensions. How many GiB of KV cache (bf16) "
    "do 8 concurrent conversations of 2,048 tokens each need?",
    _q4_check,
    "KV cache = 2 (K and V) x layers x conversations x tokens x KV heads x head_dim x 2 bytes; "
    "helpers.memory.kv_cache_bytes does the same sum.",
    _q4_solve,
)
