"""helpers.models: tiny models load back through from_pretrained; parameters are counted as published."""

from __future__ import annotations

import json

import pytest
import torch

from helpers import models, planner_check


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    return models.tiny_model_dir("llama", tmp_path_factory.mktemp("tiny") / "llama")


def test_tiny_llama_folder_loads_with_auto_classes_and_generates(llama_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert (llama_dir / "model.safetensors").exists()
    tok = AutoTokenizer.from_pretrained(llama_dir)
    model = AutoModelForCausalLM.from_pretrained(llama_dir)
    assert type(model).__name__ == "LlamaForCausalLM"
    enc = tok("The capital of France", return_tensors="pt")
    assert enc["input_ids"][0, 0].item() == tok.bos_token_id
    out = model.generate(**enc, max_new_tokens=5, do_sample=False)
    assert out.shape[1] == enc["input_ids"].shape[1] + 5


def test_tiny_llama_tokenizer_has_a_llama3_chat_template(llama_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(llama_dir)
    text = tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True)
    assert text == ("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                    "<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert tok.eos_token == "<|eot_id|>" and tok.pad_token_id != tok.eos_token_id


def test_tokenizer_round_trips_text_it_never_saw():
    tok = models.build_tokenizer(vocab_size=300, style="gpt2")
    text = "Zebras érudits 123!"
    assert tok.decode(tok(text)["input_ids"]) == text  # byte-level BPE never needs an unknown token


def test_bert_classifier_folder_loads_and_adds_cls_and_sep(tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = models.tiny_model_dir("bert-classifier", tmp_path / "bert")
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    batch = tok(["a great film", "bad"], padding=True, return_tensors="pt")
    assert set(batch) == {"input_ids", "attention_mask"}
    assert batch["input_ids"][0, 0].item() == tok.cls_token_id
    assert model(**batch).logits.shape == (2, 2)
    assert model.config.id2label == {0: "negative", 1: "positive"}


def test_tiny_model_dir_is_built_once_and_reused(tmp_path):
    folder = models.tiny_model_dir("gpt2", tmp_path / "gpt2")
    marker = folder / "tiny-model.json"
    stamp = marker.stat().st_mtime_ns
    assert models.tiny_model_dir("gpt2", tmp_path / "gpt2") == folder
    assert marker.stat().st_mtime_ns == stamp
    assert json.loads(marker.read_text())["kind"] == "gpt2"


def test_tiny_models_are_identical_for_the_same_seed():
    a = models.tiny_llama(100, seed=3)
    b = models.tiny_llama(100, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize("name, billions", [("llama-3.2-1b", 1.24), ("llama-3.2-3b", 3.21), ("llama-3-8b", 8.03),
                                            ("smollm2-1.7b", 1.71)])
def test_meta_replicas_have_the_published_parameter_counts(name, billions):
    model = planner_check.build(name, device="meta")
    assert next(model.parameters()).device.type == "meta"
    assert models.count_parameters(model) / 1e9 == pytest.approx(billions, abs=0.01)


def test_count_parameters_counts_a_tied_weight_once_and_can_count_only_the_trainable_ones():
    model = models.tiny_gpt2(100)  # GPT-2 ties its output layer to the token embedding
    assert model.lm_head.weight is model.transformer.wte.weight
    distinct = {id(p): p.numel() for p in model.parameters()}
    assert models.count_parameters(model) == sum(distinct.values())
    model.transformer.requires_grad_(False)
    assert models.count_parameters(model, trainable_only=True) == 0
    model.transformer.ln_f.requires_grad_(True)
    assert models.count_parameters(model, trainable_only=True) == 2 * 64


def test_unknown_kinds_and_architectures_say_what_exists():
    with pytest.raises(ValueError, match="llama"):
        models.tiny_model_dir("t5")
    with pytest.raises(ValueError, match="llama-3.2-1b"):
        planner_check.build("gpt-5")
