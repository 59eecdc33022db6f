"""Extra e6's server: OpenAI-compatible chat completions on 127.0.0.1, streaming, errors, token counts."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def tiny_chat_model():
    from helpers import llm, models

    torch.manual_seed(0)
    return llm.load_causal_lm(models.tiny_model_dir("llama"), device="cpu")


@pytest.fixture
def server(tiny_chat_model):
    from helpers import serve

    model, tok = tiny_chat_model
    srv = serve.start(model, tok, name="tiny")
    yield srv
    srv.stop()


CHAT = {"model": "tiny", "messages": [{"role": "user", "content": "What is a GPU?"}], "max_tokens": 6,
        "temperature": 0}


def test_server_answers_a_chat_completion_over_http_like_a_direct_call(server, tiny_chat_model):
    import requests

    from helpers import llm

    reply = requests.post(f"{server.url}/v1/chat/completions", json=CHAT, timeout=60)
    assert reply.status_code == 200
    body = reply.json()
    assert body["object"] == "chat.completion" and body["model"] == "tiny"
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["finish_reason"] in ("stop", "length")
    assert 1 <= body["usage"]["completion_tokens"] <= 6
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    model, tok = tiny_chat_model
    assert choice["message"]["content"] == llm.chat(model, tok, "What is a GPU?", max_new_tokens=6)


def test_models_and_health_routes_describe_the_server(server):
    import requests

    assert requests.get(f"{server.url}/health", timeout=10).json() == {"status": "ok"}
    models = requests.get(f"{server.url}/v1/models", timeout=10).json()
    assert [m["id"] for m in models["data"]] == ["tiny"]


def test_streaming_sends_a_role_then_text_chunks_then_done(server):
    import json

    import requests

    with requests.post(f"{server.url}/v1/chat/completions", json={**CHAT, "stream": True}, stream=True,
                       timeout=60) as reply:
        assert reply.headers["Content-Type"] == "text/event-stream"
        lines = [line for line in reply.iter_lines() if line]
    assert lines[-1] == b"data: [DONE]"
    chunks = [json.loads(line[len(b"data: "):]) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")


@pytest.mark.parametrize("payload, words", [
    ({"messages": "hello"}, "'messages' must be"),
    ({**CHAT, "max_tokens": 0}, "'max_tokens' must be"),
    ({**CHAT, "temperature": -1}, "'temperature' must be"),
    ([1, 2], "JSON object"),
])
def test_bad_requests_get_a_400_that_says_what_to_fix(server, payload, words):
    import requests

    reply = requests.post(f"{server.url}/v1/chat/completions", json=payload, timeout=30)
    assert reply.status_code == 400
    assert words in reply.json()["error"]["message"]


def test_invalid_json_and_unknown_routes_are_explained(server):
    import requests

    bad = requests.post(f"{server.url}/v1/chat/completions", data=b"{nope", timeout=30)
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["error"]["message"]
    missing = requests.get(f"{server.url}/v1/completions", timeout=30)
    assert missing.status_code == 404 and "/v1/chat/completions" in missing.json()["error"]["message"]


def test_requests_sent_together_are_all_answered(server):
    from concurrent.futures import ThreadPoolExecutor

    import requests

    def ask(i: int) -> int:
        body = {**CHAT, "max_tokens": 3, "messages": [{"role": "user", "content": f"question {i}"}]}
        return requests.post(f"{server.url}/v1/chat/completions", json=body, timeout=60).status_code

    with ThreadPoolExecutor(3) as pool:
        assert list(pool.map(ask, range(3))) == [200, 200, 200]


def test_server_listens_on_loopback_only_and_frees_its_port_when_stopped(tiny_chat_model):
    import socket

    import requests

    from helpers import serve

    srv = serve.start(*tiny_chat_model)
    host, port = srv.httpd.server_address
    assert host == "127.0.0.1" and srv.url == f"http://127.0.0.1:{port}"
    assert requests.get(f"{srv.url}/health", timeout=10).ok
    srv.stop()
    assert not srv.running
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{srv.url}/health", timeout=5)
    with socket.socket() as s:  # the port can be bound again
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))


def test_ignore_eos_forces_every_answer_to_its_max_tokens(server):
    import requests

    made = []
    for n in (3, 7):
        body = {**CHAT, "max_tokens": n, "ignore_eos": True}
        reply = requests.post(f"{server.url}/v1/chat/completions", json=body, timeout=60).json()
        made.append(reply["usage"]["completion_tokens"])
        assert reply["choices"][0]["finish_reason"] == "length"
    assert made == [3, 7]
    body = {**CHAT, "max_tokens": 6, "min_tokens": 4}
    assert requests.post(f"{server.url}/v1/chat/completions", json=body, timeout=60).json()["usage"][
        "completion_tokens"] >= 4


@pytest.mark.parametrize("min_tokens", [7, -1, 2.5, True])
def test_a_min_tokens_outside_zero_to_max_tokens_is_refused(server, min_tokens):
    import requests

    reply = requests.post(f"{server.url}/v1/chat/completions", json={**CHAT, "min_tokens": min_tokens}, timeout=30)
    assert reply.status_code == 400 and "'min_tokens' must be" in reply.json()["error"]["message"]


def test_the_latency_fit_refuses_answers_that_all_have_the_same_length():
    from course import notebook_code

    fit_latency = notebook_code.definitions("e6", "fit_latency").fit_latency
    with pytest.raises(ValueError, match="every request generated 8 tokens: a line through one x-value"):
        fit_latency([8, 8, 8, 8], [0.31, 0.30, 0.33, 0.29])  # a real model's short answer, whatever max_tokens
    fixed, per_token = fit_latency([4, 8, 16, 32], [0.1 + 0.02 * n for n in (4, 8, 16, 32)])
    assert fixed == pytest.approx(0.1) and per_token == pytest.approx(0.02)


def test_generated_tokens_count_the_same_one_by_one_and_batched_when_pad_is_the_end_token():
    from helpers import serve

    end = pad = 2  # SmolLM2: the pad token is the end token
    alone = [torch.tensor([[5, 6, 7, end]]), torch.tensor([[8, end]]), torch.tensor([[9, 9, 9, 9, 9, 9]])]
    batch = torch.tensor([[5, 6, 7, end, pad, pad], [8, end, pad, pad, pad, pad], [9, 9, 9, 9, 9, 9]])
    one_by_one = sum(sum(serve.completion_tokens(row, end)) for row in alone)
    assert one_by_one == sum(serve.completion_tokens(batch, end)) == 12
    assert int((batch != pad).sum()) == 10  # "not padding" drops the two real end tokens
    assert serve.completion_tokens(batch, [end, 7]) == [3, 2, 6]  # several end ids: the first one met
    assert serve.completion_tokens(batch, None) == [6, 6, 6]


def test_serving_exercises_explain_typical_mistakes(capsys):
    from course.exercises import extras_serving as ex

    assert not ex.q1.check((128 + 40) / 3.2)
    assert "completion tokens" in capsys.readouterr().out
    assert not ex.q1.check(3.2 / 128)
    assert "inverse" in capsys.readouterr().out
    assert not ex.q2.check(2.0)
    assert "one request at a time" in capsys.readouterr().out
    assert not ex.q3.check("no")
    assert "every network interface" in capsys.readouterr().out
    assert not ex.q4.check(ex._q4_solve() / 8)
    assert "all 8 caches" in capsys.readouterr().out
    assert not ex.q4.check(6.0)
    assert "2 bytes per number" in capsys.readouterr().out
    assert ex.q4.check(3.0)  # 2 x 24 layers x 8 x 2048 tokens x 32 heads x 64 dims x 2 bytes = 3 GiB
