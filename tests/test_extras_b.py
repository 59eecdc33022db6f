"""Extras e3 (multimodal), e6 (serving a local LLM), e7 (beyond one GPU): helpers and exercises."""

from __future__ import annotations

import pytest
import torch

from helpers import cache, distributed

# ---------------------------------------------------------------- e7: beyond one GPU


@pytest.fixture(scope="module")
def digits_file():
    return distributed.prepare_data("digits", cache.data_dir("test-e7"))


def test_one_process_training_repeats_exactly_and_learns(digits_file, tmp_path):
    runs = [distributed.train(distributed.TrainConfig(data=str(digits_file), out=str(tmp_path / f"run{k}"),
                                                      steps=30, threads=1)) for k in range(2)]
    assert runs[0]["losses"] == runs[1]["losses"]
    assert runs[0]["losses"][-1] < 0.6 * runs[0]["losses"][0]
    w0, w1 = (distributed.load_weights(tmp_path / f"run{k}", 0) for k in range(2))
    assert distributed.max_abs_diff(w0, w1) == 0.0
    assert runs[0]["world_size"] == 1 and runs[0]["backend"] == "none"


def test_training_restores_the_callers_thread_count(digits_file, tmp_path):
    before = torch.get_num_threads()
    distributed.train(distributed.TrainConfig(data=str(digits_file), out=str(tmp_path), steps=2, threads=1))
    assert torch.get_num_threads() == before


def test_two_gloo_ranks_under_torchrun_agree_and_match_one_process(digits_file, tmp_path):
    cfg = distributed.TrainConfig(data=str(digits_file), out=str(tmp_path / "ddp"), steps=12, global_batch=32,
                                  device="cpu", snapshots=(1, 12))
    seconds = distributed.launch_torchrun(2, cfg, timeout=300)
    reports = distributed.read_reports(cfg.out)
    assert seconds > 0
    assert [r["rank"] for r in reports] == [0, 1]
    assert {r["backend"] for r in reports} == {"gloo"} and {r["per_rank_batch"] for r in reports} == {16}
    assert distributed.compare_ranks(cfg.out) == 0.0
    one = distributed.TrainConfig(data=str(digits_file), out=str(tmp_path / "one"), steps=12, global_batch=32,
                                  device="cpu", threads=reports[0]["threads"], snapshots=(1, 12))
    distributed.train(one)
    diff = distributed.max_abs_diff(distributed.load_weights(cfg.out, 0), distributed.load_weights(one.out, 0))
    assert diff < 1e-4
    ddp_snaps, one_snaps = distributed.load_snapshots(cfg.out), distributed.load_snapshots(one.out)
    assert set(ddp_snaps) == set(one_snaps) == {1, 12}  # DDP's "module." prefix is gone: the keys compare
    assert distributed.max_abs_diff(ddp_snaps[12], distributed.load_weights(cfg.out, 0)) == 0.0
    assert distributed.max_abs_diff(ddp_snaps[1], one_snaps[1]) < 1e-6


@pytest.mark.parametrize(("gpus", "world", "want", "expected"), [
    (1, 2, "auto", ("cpu", "gloo")),  # one GPU, two ranks: the ranks go to the CPU...
    (1, 1, "cpu", ("cpu", "gloo")),  # ...and so must the one-process baseline they are compared with
    (1, 1, "auto", ("cuda", "nccl")),
    (2, 2, "auto", ("cuda", "nccl")),
    (0, 1, "auto", ("cpu", "gloo")),
])
def test_the_baseline_can_be_put_on_the_same_device_as_the_ranks(monkeypatch, gpus, world, want, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    device, backend = distributed._device_and_backend(0, world, want)
    assert (device.type, backend) == expected


def test_asking_for_more_gpus_than_there_are_says_so(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(RuntimeError, match="one GPU per rank"):
        distributed._device_and_backend(0, 2, "cuda")
    with pytest.raises(ValueError, match="'auto', 'cpu' or 'cuda'"):
        distributed._device_and_backend(0, 1, "gpu")


def test_tf32_is_off_inside_training_and_restored_after():
    cudnn, matmul = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    with distributed.fp32_mode(False):
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    with distributed.fp32_mode(True):
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == (cudnn, matmul)


def test_compare_ranks_sees_a_rank_that_drifted(tmp_path):
    model = distributed.make_model()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save(state, tmp_path / "rank0.pt")
    state["0.weight"][0, 0, 0, 0] += 0.5
    torch.save(state, tmp_path / "rank1.pt")
    for r in (0, 1):
        (tmp_path / f"rank{r}.json").write_text(f'{{"rank": {r}}}')
    assert distributed.compare_ranks(tmp_path) == pytest.approx(0.5)


def test_compare_ranks_without_reports_says_to_launch_first(tmp_path):
    with pytest.raises(FileNotFoundError, match="did the launch run"):
        distributed.compare_ranks(tmp_path)


def test_uneven_global_batch_is_refused_with_the_reason(digits_file, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setattr(torch.distributed, "init_process_group", lambda **kw: None)
    with pytest.raises(ValueError, match="divide evenly"):
        distributed.train(distributed.TrainConfig(data=str(digits_file), out=str(tmp_path), global_batch=64))


def test_torchrun_command_is_standalone_and_runs_this_module():
    cmd = distributed.torchrun_command(4, distributed.TrainConfig(data="d.pt", out="o", threads=2))
    assert cmd[1:3] == ["-m", "torch.distributed.run"] and "--standalone" in cmd
    assert "--nproc-per-node=4" in cmd
    assert cmd[cmd.index("-m", 3) + 1] == "helpers.distributed"
    assert cmd[cmd.index("--threads") + 1] == "2"
    assert cmd[cmd.index("--device") + 1] == "auto" and "--tf32" not in cmd and "--snapshots" not in cmd
    cmd = distributed.torchrun_command(2, distributed.TrainConfig(data="d.pt", out="o", device="cpu", tf32=True,
                                                                  snapshots=(1, 10)))
    assert cmd[cmd.index("--device") + 1] == "cpu" and "--tf32" in cmd
    assert cmd[cmd.index("--snapshots") + 1] == "1,10"


def test_unknown_dataset_names_the_choices(tmp_path):
    with pytest.raises(ValueError, match="'digits' or 'mnist'"):
        distributed.prepare_data("cifar", tmp_path)


def test_distributed_exercises_explain_typical_mistakes(capsys):
    from course.exercises import extras_distributed as ex

    assert not ex.q1.check(256)
    assert "global batch" in capsys.readouterr().out
    assert not ex.q2.check("yes")
    assert "does not pool" in capsys.readouterr().out
    assert not ex.q3.check(12)
    assert "twice" in capsys.readouterr().out
    assert not ex.q3.check(24)
    assert "(N-1)/N" in capsys.readouterr().out
    assert not ex.q3.check(9)
    assert "two phases" in capsys.readouterr().out
    assert ex.q3.check(18)
    assert not ex.q4.check(0.1)
    assert "global batch doubled" in capsys.readouterr().out
    assert not ex.q4.check(0.05)
    assert "larger step" in capsys.readouterr().out


# ---------------------------------------------------------------- e6: serving a local LLM


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
    assert not ex.q3.check("0.0.0.0")
    assert "every network interface" in capsys.readouterr().out
    assert not ex.q4.check(ex._q4_solve() / 8)
    assert "all 8 caches" in capsys.readouterr().out
    assert not ex.q4.check(6.0)
    assert "2 bytes per number" in capsys.readouterr().out
    assert ex.q4.check(3.0)  # 2 x 24 layers x 8 x 2048 tokens x 32 heads x 64 dims x 2 bytes = 3 GiB


# ---------------------------------------------------------------- e3: multimodal


@pytest.fixture(scope="module")
def tiny_vlm():
    from helpers import multimodal

    return multimodal.load_vlm(multimodal.tiny_llava_dir(), device="cpu")


@pytest.fixture(scope="module")
def flower():
    from helpers import multimodal

    return multimodal.sample_images()["flower"]


def test_sample_images_are_two_real_rgb_photos():
    from helpers import multimodal

    images = multimodal.sample_images()
    assert set(images) == {"china", "flower"}
    assert all(img.mode == "RGB" and img.width > 100 for img in images.values())


def test_tiny_llava_reloads_through_the_auto_classes_as_llava(tiny_vlm):
    model, processor = tiny_vlm
    assert type(model).__name__ == "LlavaForConditionalGeneration"
    assert type(processor).__name__ == "LlavaProcessor"
    assert processor.tokenizer.chat_template


def test_prompt_has_one_image_placeholder_per_patch(tiny_vlm, flower):
    from helpers import multimodal

    model, processor = tiny_vlm
    inputs = multimodal.encode(processor, flower, "What is this?")
    vcfg = model.config.vision_config
    placeholders = int((inputs["input_ids"] == model.config.image_token_index).sum())
    assert placeholders == (vcfg.image_size // vcfg.patch_size) ** 2
    assert tuple(inputs["pixel_values"].shape) == (1, 3, vcfg.image_size, vcfg.image_size)


def test_splicing_projected_patches_by_hand_reproduces_the_models_logits(tiny_vlm, flower):
    from helpers import multimodal

    model, processor = tiny_vlm
    inputs = multimodal.encode(processor, flower, "What is this?")
    steps = multimodal.image_embeddings(model, inputs["pixel_values"])
    assert steps["projected"].shape[-1] == model.config.text_config.hidden_size
    assert steps["patch_features"].shape[-1] == model.config.vision_config.hidden_size
    by_hand = multimodal.merge_and_run(model, inputs, steps["projected"])
    with torch.inference_mode():
        reference = model(**inputs).logits
    assert torch.allclose(by_hand, reference, atol=1e-5)
    other = multimodal.merge_and_run(model, inputs, torch.zeros_like(steps["projected"]))
    assert not torch.allclose(other, reference, atol=1e-3)  # the image vectors do reach the LLM


def test_ask_answers_with_new_tokens_repeatably(tiny_vlm, flower):
    from helpers import multimodal

    model, processor = tiny_vlm
    first = multimodal.ask(model, processor, flower, "Describe this image.", max_new_tokens=5)
    again = multimodal.ask(model, processor, flower, "Describe this image.", max_new_tokens=5)
    assert 1 <= first["new_tokens"] <= 5 and first["prompt_tokens"] > 16
    assert first["text"] == again["text"]


def test_multimodal_exercises_explain_typical_mistakes(capsys):
    from course.exercises import extras_multimodal as ex

    assert not ex.q1.check(577)
    assert "CLS" in capsys.readouterr().out
    assert not ex.q1.check(24)
    assert "square grid" in capsys.readouterr().out
    assert not ex.q2.check(1024 * 4096 + 4096 * 4096)
    assert "biases" in capsys.readouterr().out
    assert not ex.q3.check(4096 / 576)
    assert "round down" in capsys.readouterr().out
    assert not ex.q4.check("llm")
    assert "frozen" in capsys.readouterr().out
