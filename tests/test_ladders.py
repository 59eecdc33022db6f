"""Each heavy notebook's full profile fits the machine in front of it: the largest rung that fits the VRAM free now.

Free VRAM is faked (``torch.cuda.mem_get_info`` and the device properties) at 0 (no GPU), 6, 8, 10, 12, 16 and 24 GiB;
every ladder must take its largest rung that fits with the margin, the CPU rung (or a clear stop) without a GPU, and
a pinned rung that does not fit must stop with one clear line.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from helpers import ladders
from helpers.ready import CannotRunFull

FREE = (0, 6, 8, 10, 12, 16, 24)
NOTEBOOKS = sorted(ladders.LADDERS)


@pytest.fixture
def free_vram(monkeypatch):
    """Pretend CUDA device 0 has ``gib`` GiB free (0: no GPU at all)."""

    def fake(gib: float) -> None:
        total = max(gib + 1.0, 12.0) * 2**30
        monkeypatch.setattr(torch.cuda, "is_available", lambda: gib > 0)
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (int(gib * 2**30), int(total)))
        monkeypatch.setattr(torch.cuda, "get_device_properties",
                            lambda device=None: SimpleNamespace(name="NVIDIA GeForce RTX 4070 Ti", total_memory=total,
                                                                major=8, minor=9, multi_processor_count=60))

    return fake


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_a_ladder_runs_from_the_largest_rung_to_the_smallest(notebook):
    needs = [r.need() for r in ladders.ladder(notebook) if not r.cpu]
    assert needs == sorted(needs, reverse=True), f"{notebook}: rungs largest first"
    cpu = [r for r in ladders.ladder(notebook) if r.cpu]
    assert len(cpu) <= 1 and (not cpu or ladders.ladder(notebook)[-1].cpu), "one CPU rung at most, the last"
    assert all(r.minutes and r.measured_by for r in cpu), "a CPU rung states its minutes and how they were measured"


@pytest.mark.parametrize("gib", FREE)
@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_each_ladder_takes_the_largest_rung_that_fits_the_free_vram(notebook, gib, free_vram, capsys):
    free_vram(gib)
    rungs = ladders.ladder(notebook)
    fitting = [r for r in rungs if not r.cpu and gib and r.need() <= gib - ladders.MARGIN_GIB]
    expected = fitting[0] if fitting else next((r for r in rungs if r.cpu), None)
    if expected is None:
        with pytest.raises(CannotRunFull, match="no rung fits"):
            ladders.pick(notebook, "full")
        return
    rung = ladders.pick(notebook, "full")
    assert rung == expected
    said = capsys.readouterr().out.strip().splitlines()
    assert len(said) == 1 and f"rung {rung.name}" in said[0], "one line says which rung and why"


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_a_pinned_rung_that_does_not_fit_stops_with_one_clear_line(notebook, free_vram):
    free_vram(6)
    largest = ladders.ladder(notebook)[0]
    with pytest.raises(CannotRunFull) as err:
        ladders.pick(notebook, "full", pin=largest.name)
    assert f"pinned rung {largest.name}" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(CannotRunFull, match="has no rung"):
        ladders.pick(notebook, "full", pin="no-such-rung")


def test_smoke_says_which_rung_the_full_profile_would_take(free_vram, capsys):
    free_vram(10.5)  # a 12 GB card beside a desktop, after this process's CUDA context
    assert ladders.pick("07a", "smoke").name == "smoke"
    assert "the full profile here: rung mistral-7b-2x1024" in capsys.readouterr().out


def test_course_plan_ladder_names_fitting_rungs_for_each_card(cli):
    chosen = {}
    for gib in (8, 12, 16, 24):
        res = cli("plan", "--ladder", "07a", "--vram", str(gib), "--json")
        assert res.returncode == 0, res.stderr
        report = json.loads(res.stdout)
        assert {"notebook", "vram_gib", "rungs", "chosen"} <= set(report)
        rung = next(r for r in report["rungs"] if r["name"] == report["chosen"])
        assert rung["fits"] and rung["total_gib"] <= gib
        chosen[gib] = report["chosen"]
    assert chosen[8] != chosen[16]
    no_gpu = json.loads(cli("plan", "--ladder", "07a", "--vram", "0", "--json").stdout)
    cpu = [r["name"] for r in no_gpu["rungs"] if r["device"] == "cpu"]
    assert no_gpu["chosen"] == (cpu[0] if cpu else None)


def test_each_laddered_notebook_pins_with_rung_pin_and_picks_right_after_its_opening_call():
    from course import notebook_code
    from course import syllabus as syl

    for nb in syl.load().notebooks:
        key = nb.id.split("-")[0]
        if key not in ladders.LADDERS:
            continue
        assert notebook_code.parameters(nb.path).get("RUNG_PIN", "missing") is None, f"{nb.id}: RUNG_PIN = None"
        opening = next(c.source for c in notebook_code.cells(nb.path) if "profiles.start(" in c.source)
        after = opening.split("profiles.start(", 1)[1]
        call = f'RUNG = ladders.pick("{key}", P, pin=RUNG_PIN'
        assert call + ")" in after or call + ", downloads=[" in after, \
            f"{nb.id}: call {call}[, downloads=[...]]) in the opening cell, after the opening call"
