"""A minimal OpenAI-compatible chat server over a transformers model, for learning what servers do.

It speaks the same HTTP API as vLLM, llama.cpp's ``llama-server``, Ollama and NVIDIA NIM, so any
OpenAI client can talk to it:

- ``POST /v1/chat/completions`` with ``{"model", "messages", "max_tokens", "temperature", "top_p",
  "seed", "stream"}``: the answer as a ``chat.completion`` object, or with ``"stream": true`` as
  server-sent events (``chat.completion.chunk`` lines, then ``data: [DONE]``); vLLM's two extra
  parameters ``"ignore_eos": true`` and ``"min_tokens"`` force an answer's length, for measurements;
- ``GET /v1/models``: the one model served; ``GET /health``: ``{"status": "ok"}``.

It is built on the standard library's ``http.server`` and answers one request at a time (a lock
around ``generate``): requests that arrive together wait in line. Real servers batch them
(vLLM's continuous batching), which is the main thing they add. ``start(model, tok)`` runs it in a
background thread of this process (a notebook); ``python -m helpers.serve MODEL`` runs it in a
terminal. It binds 127.0.0.1 only: nothing outside this machine can reach it.

Taught in extra e6 (e6-serving-a-local-llm).
"""

from __future__ import annotations

import argparse
import itertools
import json
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.0.1"


class BadRequest(ValueError):
    """A request the server refuses, with the message sent back to the client (HTTP 400)."""


@dataclass
class Engine:
    """The model behind the server: it turns a chat request into a completion, one at a time."""

    model: Any
    tokenizer: Any
    name: str = "local-model"
    max_tokens_limit: int = 1024
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _prepare(self, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Validate the request; return (encoded prompt on the model's device, generate() arguments)."""
        import torch

        from helpers.llm import encode_chat

        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in messages):
            raise BadRequest("'messages' must be a non-empty list of {\"role\": ..., \"content\": ...} objects.")
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens", 128))
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or not 1 <= max_tokens <= self.max_tokens_limit:
            raise BadRequest(f"'max_tokens' must be an integer from 1 to {self.max_tokens_limit}.")
        min_tokens = max_tokens if body.get("ignore_eos") is True else body.get("min_tokens", 0)
        if not isinstance(min_tokens, int) or isinstance(min_tokens, bool) or not 0 <= min_tokens <= max_tokens:
            raise BadRequest("'min_tokens' must be an integer from 0 to max_tokens.")
        temperature = body.get("temperature", 1.0)
        top_p = body.get("top_p", 1.0)
        for key, value in (("temperature", temperature), ("top_p", top_p)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise BadRequest(f"'{key}' must be a number >= 0.")
        enc = encode_chat(self.tokenizer, messages)
        enc = {k: v.to(self.model.device) for k, v in enc.items()}
        gen: dict[str, Any] = {"max_new_tokens": max_tokens, "pad_token_id": self.tokenizer.pad_token_id}
        if min_tokens:  # the end token is forbidden until then: vLLM's ignore_eos / min_tokens
            gen["min_new_tokens"] = min_tokens
        if temperature == 0:
            gen["do_sample"] = False  # greedy: the same prompt always gives the same answer
        else:
            gen.update(do_sample=True, temperature=float(temperature), top_p=float(top_p))
            if isinstance(body.get("seed"), int):
                torch.manual_seed(body["seed"])
        return enc, gen

    def _finish(self, new_ids: Any, max_tokens: int) -> str:
        """OpenAI's finish_reason: "length" if the answer hit max_tokens, else "stop"."""
        eos = self.tokenizer.eos_token_id
        ended = eos is not None and len(new_ids) and int(new_ids[-1]) == eos
        return "length" if len(new_ids) >= max_tokens and not ended else "stop"

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """Answer a chat request with a ``chat.completion`` object (OpenAI's response format)."""
        import torch

        enc, gen = self._prepare(body)
        with self.lock, torch.inference_mode():
            out = self.model.generate(**enc, **gen)
        prompt_len = enc["input_ids"].shape[1]
        new = out[0, prompt_len:]
        text = self.tokenizer.decode(new, skip_special_tokens=True).strip()
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
            "model": self.name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": self._finish(new, gen["max_new_tokens"])}],
            "usage": {"prompt_tokens": int(prompt_len), "completion_tokens": int(new.numel()),
                      "total_tokens": int(prompt_len + new.numel())},
        }

    def stream(self, body: dict[str, Any]):
        """Yield ``chat.completion.chunk`` objects as the text is generated (for ``"stream": true``)."""
        import torch
        from transformers import TextIteratorStreamer

        enc, gen = self._prepare(body)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        chunk_id, created = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time())

        def chunk(delta: dict[str, str], finish: str | None = None) -> dict[str, Any]:
            return {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": self.name,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        with self.lock:
            result: dict[str, Any] = {}

            def run() -> None:
                with torch.inference_mode():
                    result["out"] = self.model.generate(**enc, **gen, streamer=streamer)

            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            try:
                yield chunk({"role": "assistant", "content": ""})
                for piece in streamer:
                    if piece:
                        yield chunk({"content": piece})
            finally:  # also when the client hangs up: the lock is held until generate() has finished
                worker.join()
        new = result["out"][0, enc["input_ids"].shape[1]:] if "out" in result else []
        yield chunk({}, self._finish(new, gen["max_new_tokens"]))


def completion_tokens(new_ids: Any, end_ids: int | Sequence[int] | None) -> list[int]:
    """Tokens each row of ``new_ids`` (batch x new tokens) generated, counted like the server's ``usage``:
    up to and including the row's first end token, or the whole row if it never ended.

    In a batch, a row that ended early is filled with the pad token up to the longest row. When the pad
    id is also the end id (SmolLM2, Llama 3), counting "tokens that are not padding" would drop each
    row's real end token too, while a one-by-one ``generate`` counts it: count both ways with this.
    """
    import torch

    ids = [end_ids] if isinstance(end_ids, int) else list(end_ids or [])
    rows, width = new_ids.shape
    if not ids or width == 0:
        return [int(width)] * rows
    ends = torch.isin(new_ids, torch.tensor(ids, device=new_ids.device))
    first = ends.int().argmax(1) + 1  # position of the first end token, counted
    return torch.where(ends.any(1), first, torch.full_like(first, width)).tolist()


def _handler(engine: Engine) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to one engine."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "dl12gb-serve/0.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass  # keep the notebook quiet; the client measures what matters

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
            self._json(status, {"error": {"message": message, "type": kind}})

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path == "/health":
                self._json(200, {"status": "ok"})
            elif self.path == "/v1/models":
                self._json(200, {"object": "list", "data": [{"id": engine.name, "object": "model",
                                                             "owned_by": "local"}]})
            else:
                self._error(404, f"No route {self.path}: use POST /v1/chat/completions or GET /v1/models.")

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            if self.path != "/v1/chat/completions":
                self._error(404, f"No route {self.path}: use POST /v1/chat/completions.")
                return
            try:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"null")
                if not isinstance(body, dict):
                    raise BadRequest("The body must be a JSON object.")
                if body.get("stream"):
                    self._stream(body)
                else:
                    self._json(200, engine.complete(body))
            except (BadRequest, json.JSONDecodeError) as err:
                self._error(400, str(err) if isinstance(err, BadRequest) else f"The body is not valid JSON: {err}")
            except Exception as err:  # noqa: BLE001 - report it to the client instead of dropping the connection
                self._error(500, f"{type(err).__name__}: {err}", kind="server_error")

        def _stream(self, body: dict[str, Any]) -> None:
            chunks = engine.stream(body)
            first = next(chunks)  # validation errors surface here, before any header is sent
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            try:
                for item in itertools.chain([first], chunks):
                    self.wfile.write(f"data: {json.dumps(item)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client hung up; nothing left to tell it
            finally:
                chunks.close()

    return Handler


class Server:
    """A running server: ``.url``, ``.stop()``; also a context manager that stops it on exit."""

    def __init__(self, engine: Engine, port: int = 0) -> None:
        self.engine = engine
        self.httpd = ThreadingHTTPServer((HOST, port), _handler(engine))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://{HOST}:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        daemon=True, name=f"serve-{self.port}")
        self._thread.start()

    @property
    def running(self) -> bool:
        """True while the server thread is serving."""
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop serving, close the socket and wait for the server thread (the port is free afterwards)."""
        if self._thread.is_alive():
            self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<Server {self.engine.name} at {self.url} ({'running' if self.running else 'stopped'})>"


def start(model: Any, tokenizer: Any, name: str = "local-model", port: int = 0) -> Server:
    """Serve a loaded model on 127.0.0.1 in a background thread (port 0: any free port); returns the Server."""
    return Server(Engine(model, tokenizer, name=name), port=port)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m helpers.serve MODEL_OR_FOLDER [--port 8000] [--quant 4bit]``."""
    parser = argparse.ArgumentParser(description="Serve a transformers chat model with an OpenAI-compatible API "
                                                 "on 127.0.0.1.")
    parser.add_argument("model", help="a Hugging Face model id or a local folder")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--quant", choices=["8bit", "4bit"], default=None)
    parser.add_argument("--name", default=None, help="the model name clients send (default: the model argument)")
    args = parser.parse_args(argv)
    from helpers.llm import load_causal_lm

    model, tok = load_causal_lm(args.model, quant=args.quant)
    server = start(model, tok, name=args.name or args.model, port=args.port)
    print(f"Serving {args.model} at {server.url}/v1 (Ctrl+C to stop)", flush=True)
    try:
        while server.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
