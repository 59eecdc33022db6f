"""helpers.train: the loop learns, checkpoints atomically, and a resumed run equals an uninterrupted one."""

from __future__ import annotations

import pytest
import torch
import train_demo

from helpers import train


def test_interrupted_and_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(tmp_path):
    uninterrupted = train_demo.demo(steps=40)
    ckpt = tmp_path / "run.pt"
    with pytest.raises(train_demo.Interrupted):
        train_demo.demo(checkpoint=str(ckpt), steps=40, every=3, crash_at=20)  # last checkpoint: step 18
    assert train.load_checkpoint(ckpt)["step"] == 18
    resumed = train_demo.demo(checkpoint=str(ckpt), steps=40, every=3)
    assert resumed == uninterrupted
    assert train_demo.demo(steps=40, crash_at=None) == uninterrupted  # and the demo itself is deterministic


def test_checkpoint_is_written_atomically_and_loads_with_weights_only(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    train.save_checkpoint(path, {"w": torch.ones(2), "step": 1})

    def broken_save(obj, fh):
        fh.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        train.save_checkpoint(path, {"w": torch.zeros(2), "step": 2})
    assert train.load_checkpoint(path)["step"] == 1  # the old checkpoint survived intact
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temporary file left behind


def test_fit_lowers_the_loss_and_records_history_with_evaluation():
    torch.manual_seed(0)
    x = torch.randn(256, 2)
    y = (x[:, 0] * x[:, 1] > 0).long()
    data = [(x[i:i + 32], y[i:i + 32]) for i in range(0, 256, 32)]
    model = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    hist = train.fit(model, data, opt, epochs=15, eval_data=data, log_every=8, progress=False)
    assert hist["train_loss"][-1] < hist["train_loss"][0] / 2
    assert len(hist["val_acc"]) == 15 and hist["val_acc"][-1] > 0.9
    assert hist["step"][-1] == 15 * 8 and hist["seconds"] > 0


def test_autocast_dtype_is_fp32_on_cpu_and_explicit_choices_are_honoured():
    assert train.autocast_dtype("cpu", "auto") is None
    assert train.autocast_dtype("cpu", "bf16") is torch.bfloat16
    assert train.autocast_dtype("cuda", "fp16") is torch.float16
    with pytest.raises(ValueError, match="auto"):
        train.autocast_dtype("cpu", "half-ish")


def test_weights_checksum_changes_when_any_weight_changes():
    from train_demo import weights_checksum

    model = torch.nn.Linear(3, 2)
    before = weights_checksum(model)
    with torch.no_grad():
        model.bias[0] += 1e-6
    assert weights_checksum(model) != before
