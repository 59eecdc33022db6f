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
    assert out["tokens_per_s"] > 0


def test_base_tokenizer_without_template_gets_a_clear_error_for_chat():
    base_tok = models.build_tokenizer(vocab_size=300, style="gpt2")
    with pytest.raises(ValueError, match="chat template"):
        llm.encode_chat(base_tok, "hi")


def test_unknown_quantisation_is_refused_with_the_options():
    with pytest.raises(ValueError, match="8bit"):
        llm.quant_config("3bit")


def test_week05_to_07_typical_mistakes_get_specific_feedback(capsys):
    from course.exercises import week05, week06, week07

    cases = [
        (week05.q1, 1.0, "own score matrix"),
        (week05.q2, 85, "not a percentage"),
        (week05.q3, "top-p", "random"),
        (week06.q1, 0.5, "keys and the values"),
        (week06.q1, 4.0, "grouped-query"),
        (week06.q3, "a", "15 GiB"),
        (week07.q2, 4096 * 4096, "frozen matrix"),
        (week07.q2, 16 * 4096, "two LoRA matrices"),
        (week07.q3, 40e6 * 4 / 2**30, "two states"),
        (week07.q3, 40e6 * 2 / 2**30, "8-bit optimizer"),
    ]
    for exercise, answer, expected in cases:
        assert not exercise.check(answer)
        assert expected in capsys.readouterr().out, (exercise.name, answer)
