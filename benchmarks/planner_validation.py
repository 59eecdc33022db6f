"""The planner against measurements on CPU: exact parameter counts and KV cache, activation error. Goal <= 15%."""

from __future__ import annotations

import sys

from benchmarks.common import main, row

TINY = dict(model_type="llama", hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=256, max_position_embeddings=512)
MEDIUM = dict(model_type="llama", hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=8,
              num_key_value_heads=2, vocab_size=2048, max_position_embeddings=1024)


def run(quick: bool = False) -> dict:
    """Worst relative error of the saved-activation estimate; parameter counts and KV cache must be exact."""
    import torch

    from helpers import planner, planner_check
    from helpers.presets import preset_config, preset_names

    presets = [n for n in preset_names() if "_class_name" not in preset_config(n)]
    exact_params = sum(planner.load_arch(n).params == planner_check.meta_params(n) for n in presets)
    kv_exact, errors = 0, {}
    for label, cfg, batch, seq in (("tiny", TINY, 2, 48), ("medium", MEDIUM, 2, 128))[: 1 if quick else 2]:
        arch = planner.load_arch(cfg)
        net = planner_check.build(cfg, device="cpu", dtype=torch.bfloat16)
        with torch.no_grad():
            cache = net(input_ids=torch.randint(0, cfg["vocab_size"], (batch, seq)), use_cache=True).cache
        kv_exact += planner_check.kv_cache_bytes(cache) == planner.kv_cache_bytes(arch, batch, seq, 2)
        for dtype, b in ((torch.float32, 4), (torch.bfloat16, 2)):
            for ckpt in (False, True):
                measured = planner_check.training_saved_bytes(planner_check.build(cfg, device="cpu", dtype=dtype), batch, seq, ckpt)
                est = planner.saved_activation_bytes(arch, batch, seq, b, checkpointing=ckpt)
                errors[f"{label}-{'fp32' if b == 4 else 'bf16'}-{'ckpt' if ckpt else 'plain'}"] = (
                    round((est - measured) / measured, 5))
    worst = max(abs(e) for e in errors.values())
    ok = worst <= 0.15 and exact_params == len(presets) and kv_exact == (1 if quick else 2)
    return row("planner vs CPU measurement", worst, "max rel. error", "<= 0.15, counts exact", ok,
               exact_param_counts=f"{exact_params}/{len(presets)}", kv_cache_exact=kv_exact,
               activation_errors=errors)


if __name__ == "__main__":
    sys.exit(main(run))
