"""Weeks 5-7: course data, prompt masking, LoRA/QLoRA on a tiny Llama, KV cache vs planner, exercise feedback."""

from __future__ import annotations

import collections

import pytest
import torch

from helpers import data, llm, models
from helpers import finetune as ft


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    return models.tiny_model_dir("llama", tmp_path_factory.mktemp("tiny") / "llama")


@pytest.fixture(scope="module")
def tok(llama_dir):
    return llm.load_tokenizer(llama_dir)


def test_course_data_is_balanced_and_split_as_its_readme_says():
    sentiment = data.sentiment()
    counts = collections.Counter((r["split"], r["label"]) for r in sentiment)
    assert counts == {("train", 0): 40, ("train", 1): 40, ("test", 0): 20, ("test", 1): 20}
    pairs = data.instructions()
    assert len(pairs) == 48 and len(data.instructions("test")) == 8
    assert all(p["instruction"] and p["response"] for p in pairs)


def test_prompt_tokens_are_masked_and_the_answer_ends_with_eos(tok):
    ex = ft.tokenize_pair(tok, "What is two plus two?", "Two plus two is four.")
    labels, ids = ex["labels"], ex["input_ids"]
    assert len(labels) == len(ids) == len(ex["attention_mask"])
    n_prompt = labels.index(next(x for x in labels if x != ft.IGNORE_INDEX))
    prompt = tok.decode(ids[:n_prompt])
    assert prompt.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert all(x == ft.IGNORE_INDEX for x in labels[:n_prompt])
    assert labels[n_prompt:] == ids[n_prompt:]
    assert ids[-1] == tok.eos_token_id
    assert tok.decode(ids[n_prompt:], skip_special_tokens=True) == "Two plus two is four."


def test_base_model_without_template_gets_the_fallback_and_masks_the_same_way():
    base_tok = models.build_tokenizer(vocab_size=300, style="gpt2")
    assert base_tok.chat_template is None
    ft.ensure_chat_template(base_tok)
    ex = ft.tokenize_pair(base_tok, "Name a planet.", "Mars.")
    answer = [i for i, lab in zip(ex["input_ids"], ex["labels"]) if lab != ft.IGNORE_INDEX]
    assert base_tok.decode(answer).startswith("Mars.") and answer[-1] == base_tok.eos_token_id
    assert "### User:" in base_tok.decode(ex["input_ids"])


@pytest.mark.parametrize("style", ["gpt2", "llama"])
def test_the_fallback_template_starts_every_sequence_with_bos_once(style, tok):
    """transformers 5 tokenizes a rendered chat without special tokens: the template itself must write BOS."""
    base_tok = models.build_tokenizer(vocab_size=300, style="gpt2") if style == "gpt2" else tok
    base_tok.chat_template = None  # a base model's tokenizer: no template of its own
    ft.ensure_chat_template(base_tok)
    assert base_tok.bos_token_id is not None
    ex = ft.tokenize_pair(base_tok, "Name a planet.", "Mars.")
    assert ex["input_ids"][0] == base_tok.bos_token_id and ex["labels"][0] == ft.IGNORE_INDEX
    assert ex["input_ids"][:2].count(base_tok.bos_token_id) == 1, "BOS once, not twice"
    chat = llm.encode_chat(base_tok, "Name a planet.")["input_ids"][0].tolist()  # generation's prompt too
    assert chat[0] == base_tok.bos_token_id and chat[1] != base_tok.bos_token_id


def test_a_template_without_bos_token_renders_without_it():
    base_tok = models.build_tokenizer(vocab_size=300, style="gpt2")
    base_tok.bos_token = None
    ft.ensure_chat_template(base_tok)
    text = base_tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    assert text.startswith("### User:")


def test_collator_pads_inputs_with_pad_id_and_labels_with_ignore_index():
    batch = ft.Collator(pad_id=7)([{"input_ids": [1, 2, 3], "attention_mask": [1, 1, 1], "labels": [-100, 2, 3]},
                                   {"input_ids": [4], "attention_mask": [1], "labels": [4]}])
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 7, 7]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 2, 3], [4, -100, -100]]


def test_lora_trains_only_adapters_and_lowers_the_loss_by_a_fifth(llama_dir):
    model, tok = llm.load_causal_lm(llama_dir)
    torch.manual_seed(0)
    model = ft.add_lora(model, r=8, alpha=16)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)
    counts = ft.trainable_parameters(model)
    assert 0 < counts["trainable"] < counts["total"]
    examples = [ft.tokenize_pair(tok, p["instruction"], p["response"]) for p in data.instructions("train")]
    history = ft.train(model, ft.batches(examples, 8, tok.pad_token_id), steps=20, lr=1e-2, progress=False)
    assert sum(history[-4:]) / 4 < 0.8 * sum(history[:4]) / 4


def test_qlora_quantises_the_base_to_4bit_and_a_step_with_paged_8bit_adamw_runs(llama_dir, tmp_path):
    import bitsandbytes as bnb

    model, tok = llm.load_causal_lm(llama_dir, quant="4bit")
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())
    model = ft.add_lora(model, r=4, alpha=8, gradient_checkpointing=True)
    batch = ft.Collator(tok.pad_token_id)([ft.tokenize_pair(tok, "Hi?", "Hello.")])
    (loss,) = ft.train(model, iter([batch]), 1, optimizer="paged_adamw_8bit", progress=False)
    assert loss == loss, "a finite loss"
    model.save_pretrained(tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()


def test_merged_adapter_gives_the_same_logits_as_adapter_on_base(llama_dir, tmp_path):
    from peft import PeftModel

    model, tok = llm.load_causal_lm(llama_dir)
    model = ft.add_lora(model, r=4, alpha=8, dropout=0.0)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.05)  # a non-zero update, as after training
    model.save_pretrained(tmp_path / "adapter")
    ids = tok("The capital of France", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        expected = model(input_ids=ids).logits
        base, _ = llm.load_causal_lm(llama_dir)
        merged = PeftModel.from_pretrained(base, tmp_path / "adapter").merge_and_unload()
        assert torch.allclose(merged(input_ids=ids).logits, expected, atol=1e-4)


def test_each_kv_cache_is_freed_before_the_next_longer_run(llama_dir):
    """A cache some name still holds would sit beside the next, longer one (06a's sweep, issue 25 item 2)."""
    import weakref

    model, _ = llm.load_causal_lm(llama_dir)
    caches, alive_at_start = [], []
    forward = model.forward

    def spying_forward(*args, **kwargs):
        alive_at_start.append(sum(ref() is not None for ref in caches))  # earlier caches still alive now
        out = forward(*args, **kwargs)
        caches.append(weakref.ref(getattr(out, "cache", None) or out.past_key_values))
        return out

    model.forward = spying_forward
    rows = llm.measure_kv_cache(model, [8, 16, 32])
    assert [r["tokens"] for r in rows] == [8, 16, 32] and len(caches) == 3
    assert alive_at_start == [0, 0, 0], "a cache from the previous length was still alive"
    assert all(ref() is None for ref in caches)


def test_kv_cache_measured_matches_the_planner_exactly(llama_dir):
    from helpers import planner

    model, _ = llm.load_causal_lm(llama_dir)
    arch = planner.load_arch(model.config.to_dict())
    for row in llm.measure_kv_cache(model, [8, 32]):
        assert row["kv_cache_mib"] * 2**20 == planner.kv_cache_bytes(arch, 1, row["tokens"], 4)


def test_chat_answers_with_new_text_only_and_counts_tokens(llama_dir):
    model, tok = llm.load_causal_lm(llama_dir)
    out = llm.timed_generate(model, tok, "What is VRAM?", max_new_tokens=5, system="Be brief.")
    assert 0 < out["new_tokens"] <= 5 and out["prompt_tokens"] > 5
    assert "What is VRAM?" not in out["text"]
    forced = llm.timed_generate(model, tok, "What is VRAM?", max_new_tokens=6, min_new_tokens=6)
    assert forced["new_tokens"] == 6 and forced["tokens_per_s"] > 0


def test_tokens_per_second_leave_out_the_prompt_pass(llama_dir):
    """06a's speeds count generated tokens only: a slow prompt pass (the prefill) must not lower them."""
    import time

    model, tok = llm.load_causal_lm(llama_dir)
    forward = model.forward

    def slow_prefill(*args, **kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None and ids.shape[1] > 1:  # the prompt pass; each later pass reads one new token
            time.sleep(0.5)
        return forward(*args, **kwargs)

    model.forward = slow_prefill
    out = llm.timed_generate(model, tok, "What is VRAM?", max_new_tokens=8, min_new_tokens=8)
    assert out["prefill_s"] >= 0.5 and out["seconds"] >= out["prefill_s"]
    assert out["tokens_per_s"] > 3 * out["new_tokens"] / out["seconds"], "the prefill's half second was counted"
    decode_s = out["seconds"] - out["prefill_s"]
    assert out["tokens_per_s"] == pytest.approx((out["new_tokens"] - 1) / decode_s, rel=1e-6)


def test_generation_speed_is_measured_on_a_run_that_cannot_stop_early(llama_dir):
    model, tok = llm.load_causal_lm(llama_dir)
    seen = []
    generate = model.generate
    model.generate = lambda **kw: seen.append(kw.get("min_new_tokens")) or generate(**kw)
    result = llm.measure_generation(model, tok, ["Hi?", "Name a planet."], max_new_tokens=4)
    assert seen[-1] == 4 and len(result["answers"]) == 2 and result["tokens_per_s"] > 0


def test_base_tokenizer_without_template_gets_a_clear_error_for_chat():
    base_tok = models.build_tokenizer(vocab_size=300, style="gpt2")
    with pytest.raises(ValueError, match="chat template"):
        llm.encode_chat(base_tok, "hi")


def test_unknown_quantisation_is_refused_with_the_options():
    with pytest.raises(ValueError, match="8bit"):
        llm.quant_config("3bit")


def test_week05_typical_mistakes_get_specific_feedback(capsys):
    """(Weeks 6-7 register their mistakes with their checkers: tests/test_exercise_answers.py runs them all.)"""
    from course.exercises import week05

    cases = [
        (week05.q1, 1.0, "own score matrix"),
        (week05.q2, 85, "not a percentage"),
        (week05.q3, 2, "has not reached 0.9"),
    ]
    for exercise, answer, expected in cases:
        assert not exercise.check(answer)
        assert expected in capsys.readouterr().out, (exercise.name, answer)


def test_paged_optimizer_buffers_are_reported_because_deleting_the_optimizer_cannot_free_them():
    """bitsandbytes keeps paged states in a global page manager for the life of the process (issue 25 item 7)."""
    from bitsandbytes.functional import GlobalPageManager

    held = GlobalPageManager.get_instance().paged_tensors
    before = ft.paged_optimizer_gib()
    stand_in = torch.zeros(2**18)  # 1 MiB, as get_paged would append it
    held.append(stand_in)
    try:
        assert ft.paged_optimizer_gib() == pytest.approx(before + 2**20 / 2**30)
    finally:
        held.remove(stand_in)
    assert ft.paged_optimizer_gib() == pytest.approx(before)


def test_07a_trains_with_optimizers_that_are_freed():
    """07a makes three optimizers: none of them paged, so each is freed with the model."""
    import ast

    from course import notebook_code

    assert not notebook_code.parameters("07a")["OPTIMIZER"].startswith("paged")
    made = [ast.unparse(n.func) for c in notebook_code.cells("07a") if c.cell_type == "code"
            for n in ast.walk(ast.parse(notebook_code.python(c))) if isinstance(n, ast.Call)]
    assert "bnb.optim.AdamW8bit" in made and not [m for m in made if "Paged" in m]


def test_accelerate_placement_says_what_goes_to_ram_and_disk_before_loading():
    """06a reads accelerate's placement on the meta device, so a machine short of RAM skips instead of using the disk."""
    from accelerate import infer_auto_device_map, init_empty_weights
    from transformers import AutoModelForCausalLM

    from helpers import planner_check

    with init_empty_weights():
        skeleton = AutoModelForCausalLM.from_config(planner_check.hf_config("llama-3.1-8b"), dtype=torch.bfloat16)
    weights = sum(p.numel() * 2 for p in skeleton.parameters()) / 2**30
    kw = dict(dtype=torch.bfloat16, no_split_module_classes=skeleton._no_split_modules)
    # a 12 GB card capped at 8 GiB of layers beside 30 GiB of free RAM: the rest goes to RAM, not "weights - 8"
    roomy = llm.placement_gib(skeleton, infer_auto_device_map(skeleton, max_memory={0: "8GiB", "cpu": "30GiB"}, **kw))
    assert sum(roomy.values()) == pytest.approx(weights) and "disk" not in roomy
    head = skeleton.lm_head.weight.numel() * 2 / 2**30
    assert roomy["0"] <= 8 - head + 0.01, "accelerate keeps room on the GPU for the largest offloaded layer"
    assert roomy["cpu"] > weights - 8
    # a 16 GB machine with about 4 GiB of RAM to give: the placement puts the rest on the disk, which 06a refuses
    short = llm.placement_gib(skeleton, infer_auto_device_map(skeleton, max_memory={0: "8GiB", "cpu": "4GiB"}, **kw))
    assert short.get("disk", 0) > 1 and sum(short.values()) == pytest.approx(weights)
