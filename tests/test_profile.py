"""helpers.profiles: choosing the profile, picking sizes, recording metrics for the runner."""

from __future__ import annotations

import json

import pytest
import torch

from helpers import metrics, profiles


def test_auto_profile_reads_the_environment(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    assert profiles.resolve_profile("auto") == "smoke"
    monkeypatch.delenv("COURSE_PROFILE")
    assert profiles.resolve_profile("auto") == "full"
    assert profiles.resolve_profile("FULL") == "full"


def test_an_unknown_profile_is_refused_with_the_valid_names():
    with pytest.raises(ValueError, match="smoke, full"):
        profiles.resolve_profile("fast")


def test_pick_chooses_by_profile():
    assert profiles.pick("smoke", smoke=1, full=2) == 1 and profiles.pick("full", smoke=1, full=2) == 2


def test_record_writes_metrics_and_peak_memory_for_the_runner(tmp_path, monkeypatch, capsys):
    target = tmp_path / "m.json"
    monkeypatch.setenv("COURSE_METRICS_FILE", str(target))
    metrics.record(accuracy=torch.tensor(0.9375), loss=1.5)
    metrics.record(steps=3)
    saved = json.loads(target.read_text())
    assert saved["metrics"] == {"accuracy": 0.9375, "loss": 1.5, "steps": 3}
    assert saved["memory"]["peak_rss_mb"] > 0
    assert "accuracy: 0.9375" in capsys.readouterr().out


def test_timings_and_memory_are_measurements_not_seeded_results():
    assert metrics.is_measurement("epoch_s") and metrics.is_measurement("peak_vram_gb")
    assert not metrics.is_measurement("test_accuracy")
