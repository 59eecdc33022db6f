"""The extras' code exercises: each reference passes its check, an untouched stub is "not answered yet",
and typical wrong implementations, written here as a learner would, fail with the message meant for them."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from course.exercises import (
    extras_dataframes,
    extras_distributed,
    extras_generative,
    extras_gnn,
    extras_multimodal,
    extras_rl,
    extras_serving,
)

MODULES = [extras_rl, extras_gnn, extras_multimodal, extras_generative, extras_dataframes, extras_serving,
           extras_distributed]


def _exercises(module):
    return [v for v in vars(module).values() if type(v).__name__ == "Exercise"]


def _verdict(capsys, exercise, answer) -> str:
    exercise.check(answer)
    return capsys.readouterr().out


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.NOTEBOOK)
def test_every_extra_has_a_code_exercise_and_every_exercise_names_one_of_its_objectives(module, capsys):
    from course import syllabus

    objectives = next(nb.objectives for nb in syllabus.load().notebooks if nb.id == module.NOTEBOOK)
    exercises = _exercises(module)
    assert any(ex.kind == "code" for ex in exercises)
    for ex in exercises:
        assert ex.objective in objectives, f"{module.NOTEBOOK} {ex.name}: {ex.objective!r}"
        assert ex.check(ex.solve()), f"{module.NOTEBOOK} {ex.name}: the reference fails its own check"
    capsys.readouterr()
    for ex in (e for e in exercises if e.kind == "code"):
        def stub(*args, **kwargs):
            raise NotImplementedError  # your code here

        assert "not answered yet" in _verdict(capsys, ex, stub)


# ------------------------------------------------------------------ e1: discounted returns
def test_returns_that_leak_into_the_next_episode_or_look_backwards_are_named(capsys):
    def no_reset(rewards, dones, gamma):
        out, g = [], 0.0
        for r in reversed(rewards):
            g = r + gamma * g
            out.insert(0, g)
        return out

    def running_sum(rewards, dones, gamma):
        out, g = [], 0.0
        for r in rewards:
            g = gamma * g + r
            out.append(g)
        return out

    def undiscounted(rewards, dones, gamma):
        out, g = [], 0.0
        for r, d in zip(reversed(rewards), reversed(dones), strict=True):
            g = r + (0.0 if d else g)
            out.insert(0, g)
        return out

    assert "end of an episode" in _verdict(capsys, extras_rl.q5, no_reset)
    assert "a return looks forward" in _verdict(capsys, extras_rl.q5, running_sum)
    assert "without discounting" in _verdict(capsys, extras_rl.q5, undiscounted)


# ------------------------------------------------------------------ e2: a GCN layer
def test_a_gcn_layer_without_self_loops_or_with_a_plain_mean_is_named(capsys):
    def no_self_loops(a, x, w):
        d = a.sum(1).clamp(min=1) ** -0.5
        return d[:, None] * a * d[None, :] @ x @ w

    def mean_of_neighbours(a, x, w):
        a_hat = a + torch.eye(len(a))
        return a_hat / a_hat.sum(1, keepdim=True) @ x @ w

    assert "left out the self-loops" in _verdict(capsys, extras_gnn.q5, no_self_loops)
    assert "divided each row by its degree" in _verdict(capsys, extras_gnn.q5, mean_of_neighbours)
    assert "without normalising" in _verdict(capsys, extras_gnn.q5, lambda a, x, w: (a + torch.eye(len(a))) @ x @ w)


def test_the_gcn_weight_question_rejects_degrees_without_self_loops(capsys):
    assert extras_gnn.q2.check(1 / math.sqrt(6))
    assert "without the self-loops" in _verdict(capsys, extras_gnn.q2, 1 / math.sqrt(2))


# ------------------------------------------------------------------ e3: the <image> splice
def test_a_splice_that_adds_or_writes_at_the_start_is_named(capsys):
    def added(ids, emb, img, image_id):
        out = emb.clone()
        out[ids == image_id] = out[ids == image_id] + img.reshape(-1, emb.shape[-1])
        return out

    def at_the_start(ids, emb, img, image_id):
        out = emb.clone()
        out[:, : img.shape[1]] = img
        return out

    assert "replace them" in _verdict(capsys, extras_multimodal.q5, added)
    assert "first positions" in _verdict(capsys, extras_multimodal.q5, at_the_start)


def test_the_splice_matches_what_llava_does_with_masked_scatter():
    ids = torch.tensor([[4, 9, 9, 7], [9, 3, 9, 8]])
    emb, img = torch.randn(2, 4, 3), torch.randn(2, 2, 3)
    mask = (ids == 9).unsqueeze(-1).expand_as(emb)
    assert torch.equal(extras_multimodal.merge_image_features(ids, emb, img, 9), emb.masked_scatter(mask, img))


# ------------------------------------------------------------------ e4: the DDPM schedule
def test_a_schedule_without_the_cumulative_product_is_named(capsys):
    def one_step_only(steps, beta_start=1e-4, beta_end=0.02):
        betas = torch.linspace(beta_start, beta_end, steps)
        return betas, 1 - betas

    def first_order(steps, beta_start=1e-4, beta_end=0.02):
        betas = torch.linspace(beta_start, beta_end, steps)
        return betas, 1 - betas.cumsum(0)

    assert "product over all steps" in _verdict(capsys, extras_generative.q5, one_step_only)
    assert "first-order approximation" in _verdict(capsys, extras_generative.q5, first_order)


def test_the_reference_schedule_is_the_course_helper_at_1000_steps():
    from helpers import generative

    betas, alpha_bar = extras_generative.ddpm_schedule(1000)
    helper = generative.linear_schedule(1000)
    assert torch.allclose(betas, helper["betas"]) and torch.allclose(alpha_bar, helper["alpha_bar"])


@pytest.mark.parametrize("wrong", [(16.7, 64, 1, 1), (16, 64.5, 1, 1), (True, 64, 1, 1), ("16", 64, 1, 1)])
def test_the_noise_shape_question_accepts_only_whole_numbers(capsys, wrong):
    assert not extras_generative.q2.check(wrong)
    assert "whole numbers" in capsys.readouterr().out
    assert extras_generative.q2.check(torch.Size([16, 64, 1, 1]))


# ------------------------------------------------------------------ e5: a group-by
def test_a_group_by_without_the_filter_or_counting_units_is_named(capsys):
    def no_filter(df):
        return df.groupby("key").agg(orders=("qty", "count"), units=("qty", "sum"),
                                     max_price=("price", "max")).sort_index()

    def counted_units(df):
        kept = df[df["qty"] >= 2]
        return kept.groupby("key").agg(orders=("qty", "count"), units=("qty", "count"),
                                       max_price=("price", "max")).sort_index()

    def key_as_column(df):
        kept = df[df["qty"] >= 2]
        return kept.groupby("key", as_index=False).agg(orders=("qty", "count"), units=("qty", "sum"),
                                                       max_price=("price", "max"))

    assert "still in" in _verdict(capsys, extras_dataframes.q5, no_filter)
    assert "total qty" in _verdict(capsys, extras_dataframes.q5, counted_units)
    assert "should be the index" in _verdict(capsys, extras_dataframes.q5, key_as_column)
    assert "expected a pandas DataFrame" in _verdict(capsys, extras_dataframes.q5, lambda df: pd.Series([1]))


# ------------------------------------------------------------------ e6: a chat-completions request
def test_a_request_with_transformers_names_or_the_system_prompt_last_is_named(capsys):
    def transformers_style(model, question, max_tokens, system=None, temperature=0.0):
        msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": question}]
        return {"model": model, "messages": msgs, "max_new_tokens": max_tokens, "temperature": temperature}

    def system_last(model, question, max_tokens, system=None, temperature=0.0):
        msgs = [{"role": "user", "content": question}] + ([{"role": "system", "content": system}] if system else [])
        return {"model": model, "messages": msgs, "max_tokens": max_tokens, "temperature": temperature}

    def a_prompt_string(model, question, max_tokens, system=None, temperature=0.0):
        return {"model": model, "messages": question, "max_tokens": max_tokens, "temperature": temperature}

    assert "max_new_tokens" in _verdict(capsys, extras_serving.q5, transformers_style)
    assert "system prompt goes first" in _verdict(capsys, extras_serving.q5, system_last)
    assert "not one string" in _verdict(capsys, extras_serving.q5, a_prompt_string)


# ------------------------------------------------------------------ e7: a sampler split across ranks
def test_the_reference_split_is_torchs_distributed_sampler():
    from torch.utils.data import DistributedSampler

    for n in range(1, 12):
        for ranks in range(1, 6):
            for rank in range(ranks):
                expected = list(DistributedSampler(range(n), num_replicas=ranks, rank=rank, shuffle=False))
                assert extras_distributed.rank_indices(n, ranks, rank) == expected


def test_a_split_without_padding_or_in_blocks_is_named(capsys):
    def strided(n, num_ranks, rank):
        return list(range(n))[rank::num_ranks]

    def blocks(n, num_ranks, rank):
        per = -(-n // num_ranks)
        padded = (list(range(n)) * num_ranks)[: per * num_ranks]
        return padded[rank * per:(rank + 1) * per]

    def drop_last(n, num_ranks, rank):
        return list(range(n - n % num_ranks))[rank::num_ranks]

    assert "different numbers of samples" in _verdict(capsys, extras_distributed.q5, strided)
    assert "round-robin" in _verdict(capsys, extras_distributed.q5, blocks)
    assert "drop_last=True" in _verdict(capsys, extras_distributed.q5, drop_last)
