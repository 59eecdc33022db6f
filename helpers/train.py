"""One readable training loop: mixed precision, a progress bar, history, evaluation, checkpoints.

``fit(model, train_data, optimizer, epochs=..., ...)`` is the loop you wrote by hand in week 3,
with what a real run needs added and nothing hidden:

- **Mixed precision** (``amp="auto"``): ``torch.autocast`` runs matmuls and convolutions in bf16
  on GPUs that have it, else fp16 with a ``GradScaler`` (fp16 gradients underflow without one).
  On a CPU it stays fp32.
- **History**: a dict of lists (``step``, ``train_loss``, ``lr``, and per epoch ``val_loss`` and
  ``val_acc``) ready for ``helpers.plots.learning_curves``.
- **Checkpoints** (``checkpoint="run.pt", every=200``): every N optimizer steps, written to a
  temporary file and renamed over the old one (``os.replace``), so a crash or a kill never
  leaves a half-written checkpoint. With ``resume=True`` (the default) a new call restores the
  model, optimizer, scheduler, scaler, random-number states and the position in the data, and
  finishes with exactly the weights an uninterrupted run would have had. Checkpoints hold only
  tensors and plain Python values, so they load with ``torch.load(..., weights_only=True)``.

Exact resume needs a loader whose order and augmentation depend only on ``(seed, epoch)``:
``helpers.data.TensorLoader`` does; a ``DataLoader`` does if its sampler has ``set_epoch`` and
its transforms are not random (``tests/train_demo.py`` shows a killed run resuming to the same weights).

Taught in week 3 (03a-pytorch-basics-and-mnist); used again in 04a, 04b.
"""

from __future__ import annotations

import itertools
import os
import random
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from helpers.cache import atomic_write


def autocast_dtype(device: torch.device | str, amp: str | None = "auto") -> torch.dtype | None:
    """The autocast dtype for ``amp`` ("auto", "bf16", "fp16", "off") on this device; None means fp32."""
    choice = (amp or "off").lower()
    if choice in ("off", "fp32", "none", "false"):
        return None
    if choice == "bf16":
        return torch.bfloat16
    if choice == "fp16":
        return torch.float16
    if choice != "auto":
        raise ValueError(f"amp={amp!r}: use 'auto', 'bf16', 'fp16' or 'off'.")
    from helpers.gpu import (
        precision,  # the course's one rule: bf16 where native, fp16 + GradScaler, fp32 on CPU
    )

    rule = precision(device)
    return rule.compute if rule.autocast else None


def _to(batch: Any, device: torch.device, channels_last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = batch[0], batch[1]
    x = x.to(device, non_blocking=True)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y.to(device, non_blocking=True)


@torch.no_grad()
def predict(model: torch.nn.Module, data: Iterable, device: torch.device | str | None = None,
            amp: str | None = "auto", channels_last: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (fp32, on the CPU) and labels for every batch of ``data``, in eval mode."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    dtype = autocast_dtype(device, amp)
    was_training = model.training
    model.eval()
    logits, labels = [], []
    for batch in data:
        x, y = _to(batch, device, channels_last)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            logits.append(model(x).float().cpu())
        labels.append(y.cpu())
    model.train(was_training)
    return torch.cat(logits), torch.cat(labels)


def evaluate(model: torch.nn.Module, data: Iterable, device: torch.device | str | None = None,
             amp: str | None = "auto", channels_last: bool = False) -> dict[str, float]:
    """Mean cross-entropy loss and accuracy of a classifier on ``data``."""
    logits, labels = predict(model, data, device, amp, channels_last)
    return {"loss": F.cross_entropy(logits, labels).item(), "acc": (logits.argmax(1) == labels).float().mean().item()}


# ---------------------------------------------------------------- random states as plain values
def _rng_state() -> dict[str, Any]:
    import numpy as np

    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype("int64")), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np

    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype("uint32"), n["pos"], n["has_gauss"], n["cached"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write a checkpoint atomically (``helpers.cache.atomic_write``): a temporary file, then ``os.replace``."""
    atomic_write(path, lambda fh: torch.save(state, fh), binary=True)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`fit` (tensors and plain values only: ``weights_only=True``)."""
    return torch.load(path, map_location="cpu", weights_only=True)


# ---------------------------------------------------------------- the loop
def fit(model: torch.nn.Module, train_data: Iterable, optimizer: torch.optim.Optimizer, *, epochs: int = 1,
        max_steps: int | None = None, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        scheduler: Any = None, eval_data: Iterable | None = None, device: torch.device | str | None = None,
        amp: str | None = "auto", channels_last: bool = False,
        checkpoint: str | os.PathLike | None = None, every: int = 0, resume: bool = True,
        on_step: Callable[[int], None] | None = None, log_every: int = 10, progress: bool = True,
        desc: str = "train") -> dict[str, Any]:
    """Train ``model`` and return its history; see the module docstring for AMP, checkpoints and resume.

    ``scheduler`` steps once per optimizer step; ``on_step(step)`` runs after each step (e.g. an
    EMA update); ``max_steps`` stops early; ``checkpoint``/``every``/``resume`` save and restore.
    """
    from tqdm.auto import tqdm

    device = torch.device(device) if device is not None else next(model.parameters()).device
    loss_fn = loss_fn or F.cross_entropy
    dtype = autocast_dtype(device, amp)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    per_epoch = len(train_data) if hasattr(train_data, "__len__") else None
    total = per_epoch * epochs if per_epoch is not None else None
    total = min(total, max_steps) if total is not None and max_steps else (max_steps or total)
    history: dict[str, Any] = {"step": [], "train_loss": [], "lr": [], "epoch": [], "val_loss": [], "val_acc": [],
                               "seconds": 0.0}
    step, start_epoch, start_batch, rng = 0, 0, 0, None

    def state() -> dict[str, Any]:
        return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "scaler": scaler.state_dict(), "step": step, "epoch": position[0], "batch": position[1],
                "history": history, "rng": _rng_state()}

    if checkpoint is not None and resume and Path(checkpoint).exists():
        saved = load_checkpoint(checkpoint)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        if scheduler is not None and saved["scheduler"] is not None:
            scheduler.load_state_dict(saved["scheduler"])
        scaler.load_state_dict(saved["scaler"])
        step, start_epoch, start_batch, history = saved["step"], saved["epoch"], saved["batch"], saved["history"]
        rng = saved["rng"]
        print(f"Resumed from {checkpoint} at step {step} (epoch {start_epoch + 1}, batch {start_batch}).")

    bar = tqdm(total=total, initial=step, desc=desc, unit="step", disable=not progress)
    running, seen = torch.zeros((), device=device), 0
    epoch, batch_in_epoch = start_epoch, start_batch
    position = (start_epoch, start_batch)
    model.train()
    t0 = time.perf_counter()
    for epoch in range(start_epoch, epochs):
        if max_steps is not None and step >= max_steps:
            break
        skip = start_batch if epoch == start_epoch else 0
        batch_in_epoch = skip
        if hasattr(train_data, "set_epoch"):
            try:
                train_data.set_epoch(epoch, start=skip)  # a TensorLoader jumps straight to the batch
                skip = 0
            except TypeError:
                train_data.set_epoch(epoch)  # e.g. DistributedSampler-style: skip batches below
        batches = itertools.islice(iter(train_data), skip, None)
        if rng is not None:  # restore random states after the data iterator drew its own
            _set_rng_state(rng)
            rng = None
        for batch in batches:
            x, y = _to(batch, device, channels_last)
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                loss = loss_fn(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if scheduler is not None:
                scheduler.step()
            step += 1
            batch_in_epoch += 1
            position = (epoch, batch_in_epoch)  # where a resume continues: this epoch, after this batch
            if on_step is not None:
                on_step(step)
            running += loss.detach().float()
            seen += 1
            last = max_steps is not None and step >= max_steps
            if step % log_every == 0 or last or (per_epoch is not None and batch_in_epoch == per_epoch):
                avg = (running / seen).item()  # one GPU sync per log line, not per step
                running.zero_()
                seen = 0
                history["step"].append(step)
                history["train_loss"].append(avg)
                history["lr"].append(optimizer.param_groups[0]["lr"])
                bar.set_postfix(loss=f"{avg:.4f}", refresh=False)
            bar.update()
            if checkpoint is not None and every and step % every == 0:
                save_checkpoint(checkpoint, state())
            if last:
                break
        evaluated = bool(history["epoch"]) and history["epoch"][-1] == epoch + 1  # a resume at an epoch's end
        if eval_data is not None and batch_in_epoch == (per_epoch or batch_in_epoch) and not evaluated:
            result = evaluate(model, eval_data, device, amp, channels_last)
            model.train()
            history["epoch"].append(epoch + 1)
            history["val_loss"].append(result["loss"])
            history["val_acc"].append(result["acc"])
            bar.write(f"epoch {epoch + 1}: val loss {result['loss']:.4f}, val acc {result['acc']:.4f}")
    if device.type == "cuda":
        torch.cuda.synchronize()
    history["seconds"] += time.perf_counter() - t0
    bar.close()
    if checkpoint is not None:
        save_checkpoint(checkpoint, state())
    return history
