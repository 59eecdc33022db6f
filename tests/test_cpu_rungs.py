"""``python -m benchmarks.cpu_rungs``: every CPU rung's stated minutes come from timing its workload on a replica."""

from __future__ import annotations

import pytest

from benchmarks import cpu_rungs
from benchmarks.rehearse_steps import TINY_LLAMA
from helpers import ladders, llm


def _cpu_rungs() -> list[tuple[str, ladders.Rung]]:
    return [(nb, r) for nb in sorted(ladders.LADDERS) for r in ladders.ladder(nb) if r.cpu]


@pytest.mark.parametrize(("notebook", "rung"), _cpu_rungs(), ids=[nb for nb, _ in _cpu_rungs()])
def test_every_cpu_rung_states_minutes_measured_by_its_registered_benchmark(notebook, rung):
    assert rung.measured_by == f"python -m benchmarks.cpu_rungs {notebook}"
    assert notebook in cpu_rungs.REGISTRY, f"add a timing function for {notebook} to benchmarks/cpu_rungs.py"
    assert rung.minutes and rung.minutes == int(rung.minutes), "whole minutes, rounded up from the measurement"


@pytest.mark.parametrize(("notebook", "settings"), [
    ("06a", {"model": "tiny", "context": 64}),
    ("07a", {"model": "tiny", "quant": None, "batch": 2, "max_len": 32, "grad_accum": 1, "steps": 2, "n_eval": 4,
             "new_tokens": 4, "trl_steps": 1, "checkpointing": False}),
])
def test_the_timing_runs_the_rungs_workload_on_a_tiny_replica(notebook, settings, monkeypatch, capsys):
    """The same code as a real measurement, on a tiny Llama standing in for the rung's model (seconds, not minutes)."""
    tiny = ladders.Rung("cpu-tiny", settings, device="cpu", minutes=1, measured_by="test")
    monkeypatch.setattr(cpu_rungs, "cpu_rung", lambda nb: tiny)
    monkeypatch.setitem(llm.PLANNER_PRESETS, "tiny", dict(TINY_LLAMA))
    result = cpu_rungs.measure(notebook, threads=1)
    assert result["rung"] == "cpu-tiny" and result["seconds"] > 0 and result["minutes"] >= 1
    assert all(seconds >= 0 for seconds in result["parts"].values()) and len(result["parts"]) >= 5
    assert cpu_rungs.main([notebook, "--json"]) == 0 and '"rungs"' in capsys.readouterr().out
