"""Exercises for the extra "Serving a local LLM" (an OpenAI-compatible server)."""

from __future__ import annotations

from typing import Any

from course.exercises import Case, Exercise, choice, near, same_as
from course.syllabus import objective
from helpers.presets import GIB

NOTEBOOK = "e6-serving-a-local-llm"

API = objective(NOTEBOOK, "Explain why vLLM,")
SERVE = objective(NOTEBOOK, "Start a minimal")
MEASURE = objective(NOTEBOOK, "Measure request latency,")
BATCH = objective(NOTEBOOK, "Measure why servers")



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
    objective=MEASURE,
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
    objective=BATCH,
)


def _q3_solve() -> str:
    return "127.0.0.1"


_q3_check = choice("127.0.0.1", {
    "0.0.0.0": (
        "0.0.0.0 listens on every network interface: anyone on your network (or the internet, "
        "behind a forwarded port) could use your GPU. This server has no password."),
})


q3 = Exercise(
    "q3",
    "Which bind address keeps a server reachable only from this machine: '127.0.0.1' or '0.0.0.0'?",
    _q3_check,
    "One of them is the loopback address; the other means 'all interfaces'.",
    _q3_solve,
    objective=SERVE,
)


def _q4_solve() -> float:
    from helpers.planner import kv_cache_bytes, load_arch

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
    "helpers.planner.kv_cache_bytes does the same sum.",
    _q4_solve,
    objective=BATCH,
)


def chat_request(model: str, question: str, max_tokens: int, system: str | None = None,
                 temperature: float = 0.0) -> dict[str, Any]:
    """The JSON body of an OpenAI chat-completions request for one question (and an optional system prompt)."""
    messages = [{"role": "system", "content": system}] if system is not None else []
    messages.append({"role": "user", "content": question})  # the conversation, oldest message first
    return {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": temperature}


def _transformers_names(model, question, max_tokens, system=None, temperature=0.0):
    body = chat_request(model, question, max_tokens, system, temperature)
    body["max_new_tokens"] = body.pop("max_tokens")
    return body


def _system_last(model, question, max_tokens, system=None, temperature=0.0):
    body = chat_request(model, question, max_tokens, None, temperature)
    if system is not None:
        body["messages"].append({"role": "system", "content": system})
    return body


def _prompt_string(model, question, max_tokens, system=None, temperature=0.0):
    body = chat_request(model, question, max_tokens, None, temperature)
    body["messages"] = question if system is None else f"{system}\n{question}"
    return body


def _always_system(model, question, max_tokens, system=None, temperature=0.0):
    body = chat_request(model, question, max_tokens, None, temperature)
    body["messages"].insert(0, {"role": "system", "content": system})
    return body


def _request_cases() -> list[Case]:
    return [
        Case("a question alone", ("local-model", "What is 2 + 2?", 16)),
        Case("a question with a system prompt and temperature 0.7",
             ("smollm2", "Name a colour.", 8, "Answer in one word.", 0.7)),
        Case("no system prompt, temperature left at its default", ("m", "Hi", 1)),
    ]


q5 = Exercise(
    "q5",
    "Write chat_request(model, question, max_tokens, system=None, temperature=0.0): the JSON body (a dict) "
    "that section 3 sends to /v1/chat/completions. It has the keys 'model', 'messages', 'max_tokens' and "
    "'temperature'; 'messages' is a list of {'role': ..., 'content': ...} dicts: the system prompt first "
    "(only when one is given), then the user's question.",
    same_as(chat_request, _request_cases, mistakes=[
        (_transformers_names, "you used transformers' name max_new_tokens; the OpenAI API calls it max_tokens "
                              "(every compatible server expects that name)."),
        (_system_last, "the system prompt goes first: messages are the conversation in order, and the system "
                       "message sets the rules before the user speaks."),
        (_prompt_string, "'messages' must be a list of {'role', 'content'} dicts, not one string: the server "
                         "applies the model's chat template to that list."),
        (_always_system, "without a system prompt, send no system message at all (not one whose content "
                         "is None)."),
    ], expects="your chat_request function"),
    "Start messages with [{'role': 'system', 'content': system}] if system is not None else [], append "
    "{'role': 'user', 'content': question}, and return the dict with the four keys.",
    lambda: chat_request,
    objective=API,
)
