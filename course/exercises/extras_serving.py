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
    40 / 3.2: "Those are the prompt's 40 tokens, which the server read; count the 128 it generated.",
    128 / 3.2 * 60: "That is tokens per minute; the question asks per second.",
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
    5.0: "That is the average over the four (2, 4, 6 and 8 s); the question asks about the last one.",
    0.5: "The requests do not share the 2 s: each needs 2 s of generation, one after the other.",
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
    return "yes"  # 0.0.0.0 listens on every interface, the lab network's included, and nothing asks for a key


_q3_check = choice("yes", {
    "no": (
        "0.0.0.0 means 'listen on every network interface', the one on the lab network included: anyone "
        "who can reach 192.168.1.20 can use that GPU, and with no API key nothing stops them. Only 127.0.0.1 "
        "(the loopback address) keeps a server to the machine it runs on."),
})


q3 = Exercise(
    "q3",
    "A classmate starts vLLM on the lab's desktop with `vllm serve MODEL --host 0.0.0.0 --port 8000` and no API "
    "key. The desktop's address on the lab network is 192.168.1.20. From your laptop on the same network, does "
    "`curl http://192.168.1.20:8000/v1/models` get an answer: 'yes' or 'no'?",
    _q3_check,
    "127.0.0.1 is the loopback address: only the machine itself. What does 0.0.0.0 mean for a server that "
    "listens?",
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
    _q4_solve() * GIB / 1e9: "That is in GB (10^9 bytes); the question asks for GiB (2^30 bytes).",
    _q4_solve() / 24: "That is one layer; every one of the 24 layers keeps its own keys and values.",
    _q4_solve() * 1024: "That is in MiB; divide by 2^30 bytes for GiB.",
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


def chat_request(model: str, history: list, question: str, max_tokens: int, system: str | None = None,
                 temperature: float = 0.0) -> dict[str, Any]:
    """The JSON body of an OpenAI chat-completions request for the next question of a conversation.

    ``history`` holds the turns so far as (user_text, assistant_text) pairs, oldest first: a server remembers
    nothing between requests, so every request carries the whole conversation.
    """
    messages = [{"role": "system", "content": system}] if system is not None else []
    for user, assistant in history:  # each earlier turn: what the user said, then what the model answered
        messages.append({"role": "user", "content": user})
        messages.append({"role": "assistant", "content": assistant})
    messages.append({"role": "user", "content": question})  # the new question comes last
    return {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": temperature}


def _comprehension(model, history, question, max_tokens, system=None, temperature=0.0):
    turns = [{"role": role, "content": text} for pair in history
             for role, text in zip(("user", "assistant"), pair, strict=True)]
    head = [] if system is None else [{"role": "system", "content": system}]
    return dict(model=model, messages=[*head, *turns, {"role": "user", "content": question}], max_tokens=max_tokens,
                temperature=temperature)


def _chained(model, history, question, max_tokens, system=None, temperature=0.0):
    import itertools

    pairs = itertools.chain.from_iterable(
        ({"role": "user", "content": u}, {"role": "assistant", "content": a}) for u, a in history)
    system_part = [{"role": "system", "content": system}] if system is not None else []
    return {"temperature": temperature, "max_tokens": max_tokens, "model": model,
            "messages": system_part + list(pairs) + [{"role": "user", "content": question}]}


def _transformers_names(model, history, question, max_tokens, system=None, temperature=0.0):
    body = chat_request(model, history, question, max_tokens, system, temperature)
    body["max_new_tokens"] = body.pop("max_tokens")
    return body


def _question_only(model, history, question, max_tokens, system=None, temperature=0.0):
    return chat_request(model, [], question, max_tokens, system, temperature)


def _all_user(model, history, question, max_tokens, system=None, temperature=0.0):
    body = chat_request(model, history, question, max_tokens, system, temperature)
    for message in body["messages"]:
        if message["role"] == "assistant":
            message["role"] = "user"
    return body


def _newest_first(model, history, question, max_tokens, system=None, temperature=0.0):
    return chat_request(model, list(reversed(history)), question, max_tokens, system, temperature)


def _system_last(model, history, question, max_tokens, system=None, temperature=0.0):
    body = chat_request(model, history, question, max_tokens, None, temperature)
    if system is not None:
        body["messages"].append({"role": "system", "content": system})
    return body


def _always_system(model, history, question, max_tokens, system=None, temperature=0.0):
    body = chat_request(model, history, question, max_tokens, None, temperature)
    body["messages"].insert(0, {"role": "system", "content": system})
    return body


def _grows_the_history(model, history, question, max_tokens, system=None, temperature=0.0):
    history.append((question, ""))  # changes the caller's list
    return chat_request(model, history[:-1], question, max_tokens, system, temperature)


def _question_first(model, history, question, max_tokens, system=None, temperature=0.0):
    body = chat_request(model, [], question, max_tokens, system, temperature)
    for user, assistant in history:  # the earlier turns after the new question
        body["messages"] += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return body


def _temperature_fixed(model, history, question, max_tokens, system=None, temperature=0.0):
    return chat_request(model, history, question, max_tokens, system, 0.0)  # the argument is ignored


def _last_turn_only(model, history, question, max_tokens, system=None, temperature=0.0):
    return chat_request(model, history[-1:], question, max_tokens, system, temperature)


def _system_as_user(model, history, question, max_tokens, system=None, temperature=0.0):
    body = chat_request(model, history, question, max_tokens, system, temperature)
    if system is not None:
        body["messages"][0]["role"] = "user"
    return body


def _request_cases() -> list[Case]:
    earlier = [("What is a GPU?", "A processor for parallel work."), ("And VRAM?", "The GPU's own memory.")]
    return [
        Case("a first question: no history, no system prompt", ("local-model", [], "What is 2 + 2?", 16)),
        Case("two earlier turns, a system prompt and temperature 0.7",
             ("smollm2", earlier, "How much does mine have?", 8, "Answer in one sentence.", 0.7)),
        Case("one earlier turn, no system prompt, temperature left at its default",
             ("m", [("Hi", "Hello!")], "Who are you?", 1)),
        Case("one earlier turn given as a list, the settings passed by name",
             ("llama", [["Name a colour.", "Blue."]], "Another?", 32),
             {"system": "Be brief.", "temperature": 1.0}),
    ]


q5 = Exercise(
    "q5",
    "Write chat_request(model, history, question, max_tokens, system=None, temperature=0.0): the JSON body (a dict) "
    "for the next question of a conversation, sent to /v1/chat/completions. history is the conversation so far, a "
    "list of (user_text, assistant_text) pairs, oldest first. The body has the keys 'model', 'messages', "
    "'max_tokens' and 'temperature'; 'messages' is a list of {'role': ..., 'content': ...} dicts: the system "
    "prompt first (only when one is given), then every earlier turn in order, then the new question.",
    same_as(chat_request, _request_cases, mistakes=[
        (_transformers_names, "you used transformers' name max_new_tokens; the OpenAI API calls it max_tokens "
                              "(every compatible server expects that name)."),
        (_question_only, "the earlier turns are missing: a server remembers nothing between requests, so send the "
                         "whole conversation every time."),
        (_all_user, "the model's earlier answers go back with role 'assistant', not 'user': otherwise the model "
                    "reads them as things the user said."),
        (_newest_first, "the turns are in the wrong order: messages run oldest first, as the conversation happened."),
        (_system_last, "the system prompt goes first: messages are the conversation in order, and the system "
                       "message sets the rules before the user speaks."),
        (_always_system, "without a system prompt, send no system message at all (not one whose content "
                         "is None)."),
        (_question_first, "the new question goes last, after the earlier turns: the model answers the last "
                          "user message."),
        (_temperature_fixed, "your temperature is not the one the caller gave: send the argument as it is."),
        (_last_turn_only, "only the last earlier turn is there: send every earlier turn, oldest first (the server "
                          "remembers nothing between requests)."),
        (_system_as_user, "the system prompt goes with role 'system', not 'user': it sets the rules, it is not "
                          "something the user said."),
    ], alternatives=[_comprehension, _chained], expects="your chat_request function"),
    "messages = [system message if system is not None]; for user, assistant in history: append a 'user' and an "
    "'assistant' message; append {'role': 'user', 'content': question}; return the dict with the four keys.",
    lambda: chat_request,
    objective=API,
    wrong=((_grows_the_history, "in place"),),
)
