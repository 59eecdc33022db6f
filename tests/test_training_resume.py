"""Nothing lost: a training process killed with SIGKILL resumes to the same weights; a checkpoint
write killed half-way never corrupts the latest checkpoint; out-of-memory shrinks the batch and
training goes on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import train_demo

from helpers import train, vram
from helpers.data import TensorLoader

DEMO = [sys.executable, train_demo.__file__, "--steps", "40"]


@pytest.fixture
def one_thread():
    """One intra-op thread, as the demo script sets, restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _step_in(path: Path) -> int:
    try:
        return int(train.load_checkpoint(path)["step"])
    except Exception:  # noqa: BLE001 - not written yet
        return 0


@pytest.mark.slow
def test_a_run_killed_mid_epoch_or_stopped_on_an_epoch_boundary_resumes_to_the_uninterrupted_weights(tmp_path, capsys, one_thread):
    # Only the run that is killed needs a process of its own; the others run here (no second torch import).
    reference = train_demo.demo(steps=40)
    # 1. SIGKILL in the middle of an epoch (8 steps an epoch), with a checkpoint every step
    ckpt = tmp_path / "run.pt"
    proc = subprocess.Popen([*DEMO, "--checkpoint", str(ckpt), "--every", "1", "--step-delay", "0.15"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while _step_in(ckpt) < 11 and time.monotonic() < deadline:  # 11 is mid-epoch 2
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed_at = _step_in(ckpt)
    assert 11 <= killed_at < 40 and killed_at % 8 != 0, f"killed at step {killed_at}, not mid-epoch"
    capsys.readouterr()
    assert train_demo.demo(str(ckpt), steps=40, every=1) == reference
    assert f"Resumed from {ckpt} at step" in capsys.readouterr().out
    # 2. the entry point crashes at step 17, after its last checkpoint on an epoch boundary (step 16 = 2 x 8): the resumed run takes every later step
    edge = tmp_path / "edge.pt"
    assert train_demo.main(["--steps", "40", "--checkpoint", str(edge), "--every", "8", "--crash-at", "17"]) == 3
    assert _step_in(edge) == 16
    capsys.readouterr()
    assert train_demo.demo(str(edge), steps=40, every=1) == reference, "no epoch skipped at the boundary"
    assert "at step 16 (epoch 2, batch 8)" in capsys.readouterr().out
    assert train.load_checkpoint(edge)["step"] == 40, "every step of the uninterrupted run was taken"


def test_fit_stopped_by_max_steps_on_an_epoch_boundary_resumes_to_the_same_steps_and_weights(tmp_path):
    def run(checkpoint=None, max_steps=None):
        torch.manual_seed(0)
        x, y = torch.randint(0, 255, (64, 1, 4, 4), dtype=torch.uint8), torch.randint(0, 2, (64,))
        loader = TensorLoader(x, y, batch_size=8, seed=0)  # 8 batches an epoch
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        history = train.fit(model, loader, opt, epochs=4, max_steps=max_steps, checkpoint=checkpoint, every=5,
                            eval_data=[(x.float(), y)], progress=False, device="cpu")
        return history, torch.cat([p.detach().flatten() for p in model.parameters()])

    full, weights = run()
    run(tmp_path / "c.pt", max_steps=16)  # stops exactly at the end of epoch 2
    resumed, resumed_weights = run(tmp_path / "c.pt")
    assert resumed["step"][-1] == full["step"][-1] == 32
    assert torch.equal(resumed_weights, weights)
    assert resumed["epoch"] == full["epoch"] == [1, 2, 3, 4], "one evaluation per epoch, none twice"


def test_a_checkpoint_write_killed_half_way_leaves_the_latest_checkpoint_intact(tmp_path):
    ckpt = tmp_path / "latest.pt"
    good = {"step": 7, "weights": torch.arange(1000.0)}
    train.save_checkpoint(ckpt, good)
    script = textwrap.dedent(f"""
        import os, signal, torch
        from helpers import train
        real_save = torch.save
        def half_then_die(obj, fh):
            fh.write(b"PK" + b"x" * 4096)  # the first bytes of a zip, then nothing
            fh.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        torch.save = half_then_die
        train.save_checkpoint({str(ckpt)!r}, {{"step": 8, "weights": torch.zeros(1000)}})
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    latest = train.load_checkpoint(ckpt)
    assert latest["step"] == 7 and torch.equal(latest["weights"], good["weights"])
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "latest.pt"]
    assert all(name.endswith(".tmp") for name in leftovers), leftovers  # a temp file at most, never the real one


@pytest.mark.slow
def test_out_of_memory_above_a_batch_size_finds_the_largest_that_fits_and_training_continues():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (384, 1, 8, 8), dtype=torch.uint8)
    labels = (images.float().mean((1, 2, 3)) > 127.5).long()
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    limit = 48  # pretend the card holds 48 images' activations and no more

    def one_step(batch_size: int) -> None:
        if batch_size > limit:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {batch_size} MiB")
        x = images[:batch_size].float() / 255
        torch.nn.functional.cross_entropy(model(x), labels[:batch_size]).backward()
        model.zero_grad(set_to_none=True)

    found = vram.find_batch_size(one_step, start=256)
    assert found.batch_size == limit and found.tried[0] == (256, "oom")
    loader = TensorLoader(images, labels, batch_size=found.batch_size, mean=(0.5,), std=(0.25,), seed=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2)
    history = train.fit(model, loader, optimizer, epochs=3, device="cpu", progress=False, log_every=1)
    assert history["step"][-1] == 3 * len(loader) and history["train_loss"][-1] < history["train_loss"][0]
