"""The doctor names the rung each laddered notebook gets on this machine, and the notebooks that need WSL2 on Windows."""

from __future__ import annotations

import pytest

from course import syllabus as syl
from course.commands import doctor
from helpers import ladders, planner
from helpers.machine import Facts

COURSE = syl.load()
LADDERED = [nb for nb in COURSE.notebooks if nb.id.split("-")[0] in ladders.LADDERS]


def _card(free_gib: float, system: str = "Linux") -> Facts:
    return Facts(system=system, device="cuda", cuda_available=True, nvidia=True, gpu_name="NVIDIA GeForce RTX 4070 Ti",
                 capability=(8, 9), vram_total_gib=11.99, vram_free_gib=free_gib, torch_version="2.14.1", processes=[])


@pytest.mark.parametrize("free", [6.0, 8.5, 11.0, 16.0, 23.5])
@pytest.mark.parametrize("nb", LADDERED, ids=[nb.id for nb in LADDERED])
def test_the_doctor_gives_each_laddered_notebook_the_rung_the_notebook_would_take(nb, free):
    verdict = doctor.judge(nb, _card(free))
    expected, _ = ladders.choose(nb.id, free - planner.CUDA_CONTEXT_BYTES / 2**30)
    assert verdict.rung == (expected.name if expected else None)
    assert verdict.full_ok == (expected is not None) or "downloads are off" in verdict.reason


def test_doctor_json_lists_the_rung_of_every_laddered_notebook(doctor_report):
    data = doctor_report
    rows = {row["notebook"]: row for row in data["notebooks"]}
    for nb in LADDERED:
        assert "rung" in rows[nb.id], nb.id


def test_on_native_windows_a_wsl2_notebook_is_named_with_the_fix():
    wsl2 = [nb for nb in COURSE.notebooks if nb.windows != "native"]
    native = [nb for nb in COURSE.notebooks if nb.windows == "native" and not nb.needs]
    for nb in wsl2:
        verdict = doctor.judge(nb, _card(11.0, system="Windows"))
        assert not verdict.full_ok and "native Windows" in verdict.reason and "WSL2" in verdict.advice
    for nb in native[:2]:
        assert "native Windows" not in doctor.judge(nb, _card(11.0, system="Windows")).reason
