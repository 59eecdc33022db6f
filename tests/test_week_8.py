"""Week 8 exercises: typical wrong answers get feedback that names the mistake."""

from __future__ import annotations

from course.exercises import week08


def test_q1_fp32_gb_and_unet_only_answers_are_named(capsys):
    total = sum(week08.SD15_PARAMS.values())
    assert not week08.q1.check(total * 4 / 2**30)
    assert "fp32" in capsys.readouterr().out
    assert not week08.q1.check(round(total * 2 / 1e9, 3))
    assert "GB (10^9 bytes)" in capsys.readouterr().out
    assert not week08.q1.check(week08.SD15_PARAMS["unet"] * 2 / 2**30)
    assert "UNet alone" in capsys.readouterr().out
    assert week08.q1.check(1.99)


def test_q2_one_channel_or_pixel_space_answers_are_named(capsys):
    assert not week08.q2.check(64 * 64)
    assert "4 channels" in capsys.readouterr().out
    assert not week08.q2.check(512 * 512 * 3)
    assert "image itself" in capsys.readouterr().out
    assert not week08.q2.check(16384.0)
    assert "whole number" in capsys.readouterr().out


def test_q3_forgetting_the_unconditional_pass_is_explained(capsys):
    assert not week08.q3.check(25)
    assert "without" in capsys.readouterr().out


def test_q4_offload_and_slicing_answers_point_at_the_decoder(capsys):
    assert not week08.q4.check("attention_slicing")
    assert "VAE decodes" in capsys.readouterr().out
    assert not week08.q4.check("sequential_cpu_offload")
    assert "decoder" in capsys.readouterr().out
    assert week08.q4.check(" VAE_Tiling ")
    assert not week08.q4.check("xformers")
    assert "answer one of" in capsys.readouterr().out


def test_q5_one_projection_or_full_matrix_answers_are_named(capsys):
    assert not week08.q5.check(8 * 640)
    assert "four of them" in capsys.readouterr().out
    assert not week08.q5.check(4 * 320 * 320)
    assert "frozen weights" in capsys.readouterr().out
