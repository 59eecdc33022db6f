"""Weeks 3-4: typical wrong answers get specific feedback; the notebooks use the course helpers.

Week 4's exercises are tested in test_week4_exercises.py, its loader in test_loader.py."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from course.exercises import week03

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {
    "03a": ROOT / "notebooks/03-pytorch/03a-pytorch-basics-and-mnist.ipynb",
    "04a": ROOT / "notebooks/04-cnns/04a-cnns-on-cifar10.ipynb",
    "04b": ROOT / "notebooks/04-cnns/04b-cifar10-speedrun.ipynb",
}


def _source(key: str) -> str:
    return "\n".join(c.source for c in nbformat.read(NOTEBOOKS[key], as_version=4).cells)


def test_week03_typical_mistakes_get_specific_feedback(capsys):
    assert not week03.q1.check((4, 1, 3))
    assert "both" in capsys.readouterr().out
    assert not week03.q2.check(784 * 128)
    assert "bias" in capsys.readouterr().out
    assert not week03.q2.check(784 + 128)
    assert "multiply" in capsys.readouterr().out
    assert not week03.q3.check(12)
    assert "+ x" in capsys.readouterr().out
    assert not week03.q4.check("a")
    assert ".grad" in capsys.readouterr().out


@pytest.mark.parametrize("key", NOTEBOOKS)
def test_notebooks_load_data_through_helpers_and_train_with_fit(key):
    text = _source(key)
    assert "data.mnist(P" in text or "data.cifar10(P" in text, "real torchvision classes via helpers.data"
    assert "train.fit(" in text
    assert "profile.record(" in text


def test_full_profiles_that_need_a_gpu_stop_early():
    for key in ("04a", "04b"):
        text = _source(key)
        assert text.index("ready.require_full(P, gpu=True") < text.index("train.fit(")


def test_week4_notebooks_use_the_course_tools_the_issue_asks_for():
    a, b = _source("04a"), _source("04b")
    assert "vram.find_batch_size(" in a and "plots.confusion_matrix(" in a and "checkpoint=CKPT" in a
    assert "TensorLoader(" in b and "label_smoothing" in b and "channels_last=True" in b
    assert "3.83" in b and "2404.00498" in b, "the record is cited beside the learner's time"
