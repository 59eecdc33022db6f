"""The CPU rungs of extras e3 and e6: their stated minutes come from `python -m benchmarks.cpu_rungs e3 | e6`, whose
timing code runs here on tiny stand-ins (a tiny Llama for SmolLM2-360M, the tiny LLaVA for LLaVA-Interleave)."""

from __future__ import annotations

from benchmarks import cpu_rungs
from benchmarks.rehearse_steps import TINY_LLAMA
from helpers import ladders, llm


def test_e6_timing_runs_the_servers_workload_on_a_tiny_replica(monkeypatch):
    tiny = ladders.Rung("cpu-tiny", {"model": "tiny", "concurrent": 2, "max_tokens": 4}, device="cpu", minutes=1,
                        measured_by="test")
    monkeypatch.setattr(cpu_rungs, "cpu_rung", lambda nb: tiny)
    monkeypatch.setitem(llm.PLANNER_PRESETS, "tiny", dict(TINY_LLAMA))
    result = cpu_rungs.measure("e6", threads=1)
    assert result["rung"] == "cpu-tiny" and result["counts"] == {"max_tokens": 4, "concurrent": 2, "sweep": [2, 4]}
    assert len(result["parts"]) == 7 and all(seconds >= 0 for seconds in result["parts"].values())


def test_e3_timing_runs_the_splice_and_the_answers_on_a_tiny_llava(monkeypatch):
    from helpers import multimodal

    tiny = ladders.Rung("cpu-tiny", {"max_new_tokens": 3}, device="cpu", minutes=1, measured_by="test")
    monkeypatch.setattr(cpu_rungs, "cpu_rung", lambda nb: tiny)
    monkeypatch.setattr(cpu_rungs, "_llava_interleave_replica", lambda: multimodal.build_tiny_llava()[0].eval())
    result = cpu_rungs.measure("e3", threads=1)
    assert result["counts"] == {"prompt_tokens": 30 + 16, "answers": 4, "new_tokens": 3}
    assert len(result["parts"]) == 4 and result["seconds"] > 0


def test_the_llava_replica_has_the_real_models_image_tokens_without_weights():
    import torch

    with torch.device("meta"):  # the architecture only: no memory, no download
        model = cpu_rungs._llava_interleave_replica()
    cfg = model.config
    assert (cfg.vision_config.image_size // cfg.vision_config.patch_size) ** 2 == cfg.image_seq_length == 729
    assert 0.85e9 < sum(p.numel() for p in model.parameters()) < 0.9e9  # "0.9 B parameters", 1.79 GB in 16 bits
