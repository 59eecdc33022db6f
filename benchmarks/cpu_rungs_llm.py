"""The CPU rungs of weeks 6-7 (06a, 07a), timed for ``benchmarks.cpu_rungs`` (its docstring says how).

Each function times its notebook's CPU-rung workload on a random-weight replica of the rung's model, piece by piece,
with the counts the notebook runs; the harness (``benchmarks.cpu_rungs``) adds the pieces up.
"""

from __future__ import annotations

import math
import tempfile
from typing import Any


def time_06a(threads: int) -> dict[str, Any]:
    """06a's CPU rung: 4-bit loads, answers and chat token by token, and the KV-cache sweep's prompt passes."""
    from benchmarks import cpu_rungs as h  # the harness (it imports this module: import it when called)
    from helpers import llm

    rung = h.cpu_rung("06a")
    s = rung.settings
    preset = llm.PLANNER_PRESETS[s["model"]]
    context, new, n_prompts = s["context"], s.get("new_tokens", 64), 3  # the notebook's full-profile defaults
    lengths = sorted({context // 16, context // 4, context // 2, context})
    parts: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="cpu-rung-06a-") as folder:
        parts["build the replica (stands in for reading the download)"] = h._replica_dir(preset, folder)[1]
        llm.quiet_int8()
        for bits in s.get("precisions", (8, 4)):
            model, parts[f"load in {bits}-bit"] = h._load(folder, f"{bits}bit")
            per_token = h._seconds_per_token(model)
            short = h._prefill_seconds(model, h.CHAT_PROMPT_TOKENS)
            # measure_generation: a warm-up of 2 tokens, one answer per prompt, a forced run of `new` tokens
            parts[f"{bits}-bit: {n_prompts + 1} answers of {new} tokens"] = (n_prompts + 1) * (short + new * per_token) \
                + short + 2 * per_token
            if bits == 4:  # the model kept for sections 6 and 7
                parts[f"chat: 2 answers of {new} tokens"] = 2 * (short + new * per_token)
                parts[f"KV-cache sweep: prompt passes of {', '.join(map(str, lengths))} tokens"] = sum(
                    h._prefill_seconds(model, n) for n in lengths)
            del model
    return {"rung": rung.name, "model": s["model"], "parts": parts,
            "counts": {"new_tokens": new, "prompts": n_prompts, "sweep": lengths}}


def time_07a(threads: int) -> dict[str, Any]:
    """07a's CPU rung: LoRA steps on the fp32 model, held-out passes, answers, the merge, the TRL steps."""
    import torch

    from benchmarks import cpu_rungs as h
    from helpers import finetune as ft
    from helpers import llm

    rung = h.cpu_rung("07a")
    s = rung.settings
    preset = llm.PLANNER_PRESETS[s["model"]]
    batch, length, steps, accum = s["batch"], s["max_len"], s["steps"], s["grad_accum"]
    eval_passes = math.ceil(s["n_eval"] / batch)
    new, held_out = s["new_tokens"], 4
    parts: dict[str, float] = {}
    gen = torch.Generator().manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="cpu-rung-07a-") as folder:
        parts["build the replica (stands in for reading the download)"] = h._replica_dir(preset, folder)[1]
        model, load_s = h._load(folder, s.get("quant"))
        parts["3 loads of the base (sections 4, 12, 13)"] = 3 * load_s
        ids = torch.randint(0, model.config.vocab_size, (batch, length), generator=gen)
        full = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.clone()}
        with torch.no_grad():
            h._prefill_seconds(model, length, batch)  # warm-up
            eval_s = h._clock()
            model(**full)
            eval_s = eval_s()
        per_token = h._seconds_per_token(model)
        answers = held_out * (h._prefill_seconds(model, h.CHAT_PROMPT_TOKENS) + new * per_token)
        parts[f"held-out loss twice ({eval_passes} passes of {batch} x {length})"] = 2 * eval_passes * eval_s
        parts[f"answers before and after ({held_out} x {new} tokens each)"] = 2 * answers
        model = ft.add_lora(model, r=16, alpha=32, gradient_checkpointing=bool(s.get("checkpointing")))
        history = ft.train(model, iter([full] * 2), 1, optimizer="adamw_8bit", progress=False)  # warm-up
        step = h._clock()
        ft.train(model, iter([full] * accum), 1, optimizer="adamw_8bit", progress=False)
        step_s = step()
        parts[f"training: 1 step by hand + {steps} steps of {accum} x {batch} x {length} tokens"] = (steps + 1) * step_s
        parts[f"TRL: {s['trl_steps']} steps"] = s["trl_steps"] * step_s
        with tempfile.TemporaryDirectory(prefix="cpu-rung-07a-merged-") as merged_dir:
            merge = h._clock()
            with torch.no_grad():
                model(**{k: v[:4] for k, v in full.items()})
            merged = model.merge_and_unload()
            merged.save_pretrained(merged_dir)
            del merged, model
            reloaded, _ = h._load(merged_dir, None)
            with torch.no_grad():
                reloaded(**{k: v[:4] for k, v in full.items()})
            parts["merge, save, reload, compare"] = merge() + new * per_token
            del reloaded
        assert history and all(map(math.isfinite, history))
    return {"rung": rung.name, "model": s["model"], "parts": parts,
            "counts": {"steps": steps, "grad_accum": accum, "batch": batch, "max_len": length,
                       "eval_passes": eval_passes, "new_tokens": new}}
