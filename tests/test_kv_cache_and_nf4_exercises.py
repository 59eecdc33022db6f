"""Week 6's code exercises: the references pass, and typical wrong answers get the message meant for them."""

from __future__ import annotations

import pytest
import torch
from transformers import BitsAndBytesConfig

from course.exercises import week06 as ex
from helpers import llm


def _stub(*args, **kwargs):
    raise NotImplementedError


def test_the_reference_solutions_pass_and_untouched_stubs_are_not_answered_yet(capsys):
    assert ex.q5.check(ex.q5.solve()) and ex.q6.check(ex.q6.solve())
    assert not ex.q5.check(_stub) and not ex.q6.check(_stub)
    assert capsys.readouterr().out.count("not answered yet") == 2


@pytest.mark.parametrize(("config", "message"), [
    (dict(load_in_8bit=True), "loads 8-bit weights"),
    (dict(load_in_4bit=True, bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.bfloat16), "fp4"),
    (dict(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16), "double quantisation is off"),
    (dict(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True), "float32 (the default"),
    (dict(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
          bnb_4bit_compute_dtype=torch.float16), "overflows"),
])
def test_a_wrong_nf4_config_is_told_which_field_is_wrong(config, message, capsys):
    assert not ex.q5.check(lambda: BitsAndBytesConfig(**config))
    assert message in capsys.readouterr().out


def test_an_nf4_answer_that_is_not_a_config_or_not_a_function_is_explained(capsys):
    assert not ex.q5.check(lambda: {"load_in_4bit": True})
    assert "return a transformers BitsAndBytesConfig" in capsys.readouterr().out
    assert not ex.q5.check(ex.nf4_config())
    assert "without calling it" in capsys.readouterr().out


def _query_heads(config, tokens, batch=1, bytes_per_value=2):
    head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    return 2 * config["num_hidden_layers"] * batch * tokens * config["num_attention_heads"] * head_dim * bytes_per_value


def _keys_only(config, tokens, batch=1, bytes_per_value=2):
    kv = config.get("num_key_value_heads") or config["num_attention_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    return config["num_hidden_layers"] * batch * tokens * kv * head_dim * bytes_per_value


def _ignores_head_dim(config, tokens, batch=1, bytes_per_value=2):
    kv = config.get("num_key_value_heads") or config["num_attention_heads"]
    head_dim = config["hidden_size"] // config["num_attention_heads"]
    return 2 * config["num_hidden_layers"] * batch * tokens * kv * head_dim * bytes_per_value


def _no_batch(config, tokens, batch=1, bytes_per_value=2):
    return ex.kv_cache_bytes(config, tokens, 1, bytes_per_value)


def _values_not_bytes(config, tokens, batch=1, bytes_per_value=2):
    return ex.kv_cache_bytes(config, tokens, batch, 1)  # a count of values, not bytes


def _requires_kv_heads(config, tokens, batch=1, bytes_per_value=2):
    head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    return 2 * config["num_hidden_layers"] * batch * tokens * config["num_key_value_heads"] * head_dim * bytes_per_value


@pytest.mark.parametrize(("wrong", "message"), [
    (_query_heads, "you cached every query head"),
    (_keys_only, "count both the keys and the values"),
    (_ignores_head_dim, "this config sets head_dim itself"),
    (_no_batch, "multiply by batch"),
    (_values_not_bytes, "multiply by bytes_per_value"),
    (_requires_kv_heads, "KeyError 'num_key_value_heads'"),
])
def test_a_wrong_kv_cache_function_gets_the_message_for_its_mistake(wrong, message, capsys):
    assert not ex.q6.check(wrong)
    assert message in capsys.readouterr().out


def test_the_kv_cache_reference_agrees_with_the_planner_on_every_hidden_case():
    for case in ex._q6_cases():
        assert ex.kv_cache_bytes(*case.args, **case.kwargs) == ex._planner_kv(*case.args, **case.kwargs)
    labels = " ".join(c.label for c in ex._q6_cases())
    assert "8 KV heads" in labels and "32 KV heads" in labels  # GQA and MHA


def test_the_roofline_question_uses_the_planners_bytes_and_rejects_typical_slips(capsys):
    assert ex.READ_GB == pytest.approx(llm.bytes_per_token("llama-3.2-3b", 4) / 1e9, abs=0.005)
    assert not ex.q2.check(ex.READ_GB / ex.RTX4060_GBS)
    assert "not the other way round" in capsys.readouterr().out
    assert not ex.q2.check(ex.RTX4060_GBS / (ex.READ_GB * 1e9 / 2**30))
    assert "GiB/s" in capsys.readouterr().out
    assert not ex.q2.check(ex.RTX4060_GBS / (llm.bytes_per_token("llama-3.2-3b", 16) / 1e9))
    assert "16-bit model" in capsys.readouterr().out
