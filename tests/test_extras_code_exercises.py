"""The extras' code exercises: each reference passes its check, an untouched stub is "not answered yet",
and typical wrong implementations, written here as a learner would, fail with the message meant for them."""

from __future__ import annotations

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
# (e1, e2 and e4's wrong answers are registered in their modules: tests/test_exercise_answers.py runs them)
def test_the_reference_schedule_is_the_course_helper_at_1000_steps():
    from helpers import generative

    betas, alpha_bar = extras_generative.ddpm_schedule(1000)
    helper = generative.linear_schedule(1000)
    assert torch.allclose(betas, helper["betas"]) and torch.allclose(alpha_bar, helper["alpha_bar"])


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
def test_a_request_that_forgets_the_history_or_its_roles_is_named(capsys):
    def transformers_style(model, history, question, max_tokens, system=None, temperature=0.0):
        msgs = [{"role": "system", "content": system}] if system else []
        for u, a in history:
            msgs += [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
        msgs.append({"role": "user", "content": question})
        return {"model": model, "messages": msgs, "max_new_tokens": max_tokens, "temperature": temperature}

    def forgets_the_history(model, history, question, max_tokens, system=None, temperature=0.0):
        msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": question}]
        return {"model": model, "messages": msgs, "max_tokens": max_tokens, "temperature": temperature}

    def every_turn_as_user(model, history, question, max_tokens, system=None, temperature=0.0):
        msgs = [{"role": "system", "content": system}] if system else []
        msgs += [{"role": "user", "content": text} for pair in history for text in pair]
        msgs.append({"role": "user", "content": question})
        return {"model": model, "messages": msgs, "max_tokens": max_tokens, "temperature": temperature}

    def appends_to_history(model, history, question, max_tokens, system=None, temperature=0.0):
        history.append((question, None))
        msgs = [{"role": "system", "content": system}] if system else []
        for u, a in history[:-1]:
            msgs += [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
        msgs.append({"role": "user", "content": question})
        return {"model": model, "messages": msgs, "max_tokens": max_tokens, "temperature": temperature}

    assert "max_new_tokens" in _verdict(capsys, extras_serving.q5, transformers_style)
    assert "remembers nothing" in _verdict(capsys, extras_serving.q5, forgets_the_history)
    assert "role 'assistant'" in _verdict(capsys, extras_serving.q5, every_turn_as_user)
    assert "in place" in _verdict(capsys, extras_serving.q5, appends_to_history)


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
