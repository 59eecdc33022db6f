"""The course's LoRA loop (``helpers.finetune.train``) vs a plain peft + torch loop, same model and data. Goal >= 0.9."""

from __future__ import annotations

import statistics
import sys
import time

from benchmarks.common import main, row


def _setup(seed: int = 0):
    """A tiny Llama with LoRA adapters, its tokenized course pairs, and endless batches."""
    import torch

    from helpers import data, models
    from helpers import finetune as ft

    model, tok = models.build_tiny("llama", seed=seed)
    torch.manual_seed(seed)
    model = ft.add_lora(model, r=8, alpha=16, dropout=0.0)
    examples = [ft.tokenize_pair(tok, p["instruction"], p["response"]) for p in data.instructions("train")]
    return model, ft.batches(examples, 8, tok.pad_token_id, seed=seed)


def _plain_loop(model, data, steps: int, lr: float) -> None:
    """What a learner would write with only peft and torch."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr)
    model.train()
    for _ in range(steps):
        loss = model(**next(data)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)


def _steps_per_s(course: bool, steps: int) -> float:
    from helpers import finetune as ft

    model, data = _setup()
    next(data)  # build the loader's first batch outside the timing
    start = time.perf_counter()
    if course:
        ft.train(model, data, steps, lr=1e-3, progress=False)
    else:
        _plain_loop(model, data, steps, lr=1e-3)
    return steps / (time.perf_counter() - start)


def run(quick: bool = False) -> dict:
    """Alternate both loops a few times and compare their median steps per second."""
    steps, repeats = (10, 2) if quick else (30, 5)
    _steps_per_s(False, 3), _steps_per_s(True, 3)  # warm-up: first-call imports and allocations count for neither
    course, plain = [], []
    for _ in range(repeats):  # interleaved, so a busy moment of the machine hits both
        plain.append(_steps_per_s(False, steps))
        course.append(_steps_per_s(True, steps))
    ratio = statistics.median(course) / statistics.median(plain)
    return row("LoRA loop: course / plain peft+torch", ratio, "x (steps/s ratio)", ">= 0.9", ratio >= 0.9,
               course_steps_per_s=round(statistics.median(course), 3),
               plain_steps_per_s=round(statistics.median(plain), 3), steps=steps, repeats=repeats)


if __name__ == "__main__":
    sys.exit(main(run))
