"""Week 8 exercises: typical wrong answers and wrong implementations get feedback that names the mistake."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from course.exercises import week08a, week08b


def _out(capsys) -> str:
    return capsys.readouterr().out


def test_08a_q1_fp32_gb_and_unet_only_answers_are_named(capsys):
    total = sum(week08a.SD15_PARAMS.values())
    assert not week08a.q1.check(total * 4 / 2**30)
    assert "fp32" in _out(capsys)
    assert not week08a.q1.check(round(total * 2 / 1e9, 3))
    assert "GB (10^9 bytes)" in _out(capsys)
    assert not week08a.q1.check(week08a.SD15_PARAMS["unet"] * 2 / 2**30)
    assert "UNet alone" in _out(capsys)
    assert week08a.q1.check(1.99)


def test_08a_q2_one_channel_or_pixel_space_answers_are_named(capsys):
    assert not week08a.q2.check(64 * 64)
    assert "4 channels" in _out(capsys)
    assert not week08a.q2.check(512 * 512 * 3)
    assert "image itself" in _out(capsys)
    assert not week08a.q2.check(16384.0)
    assert "whole number" in _out(capsys)


def test_08a_q3_counting_the_skipped_unconditional_pass_is_explained(capsys):
    assert not week08a.q3.check(50)
    assert "skips it" in _out(capsys)
    assert week08a.q3.check(25)


def test_08a_q4_offload_and_slicing_answers_point_at_the_decoder(capsys):
    assert not week08a.q4.check("attention_slicing")
    assert "VAE decodes" in _out(capsys)
    assert not week08a.q4.check("sequential_cpu_offload")
    assert "decoder" in _out(capsys)
    assert week08a.q4.check(" VAE_Tiling ")


def test_08a_q5_guidance_matches_diffusers_and_wrong_lines_are_named(capsys):
    def wrong_side(noise_pred, scale):
        cond, uncond = noise_pred.chunk(2)
        return uncond + scale * (cond - uncond)

    def from_cond(noise_pred, scale):
        uncond, cond = noise_pred.chunk(2)
        return cond + scale * (cond - uncond)

    def no_base(noise_pred, scale):
        uncond, cond = noise_pred.chunk(2)
        return scale * (cond - uncond)

    assert not week08a.q5.check(wrong_side)
    assert "guidance applied to the wrong side" in _out(capsys)
    assert not week08a.q5.check(from_cond)
    assert "started from the conditional prediction" in _out(capsys)
    assert not week08a.q5.check(no_base)
    assert "base term is missing" in _out(capsys)
    assert not week08a.q5.check(lambda noise_pred, scale: noise_pred)  # the whole doubled batch back
    assert "expected shape" in _out(capsys)
    assert week08a.q5.check(lambda p, s: s * p.chunk(2)[1] + (1 - s) * p.chunk(2)[0])  # the same line, rearranged


def test_08a_q6_noising_matches_the_schedule_and_wrong_formulas_are_named(capsys):
    def alpha_t(x0, noise, t, betas):
        a = (1 - betas)[t].float().view(-1, 1, 1, 1)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def no_sqrt(x0, noise, t, betas):
        a = torch.cumprod(1 - betas, 0)[t].float().view(-1, 1, 1, 1)
        return a * x0 + (1 - a) * noise

    def swapped(x0, noise, t, betas):
        a = torch.cumprod(1 - betas, 0)[t].float().view(-1, 1, 1, 1)
        return (1 - a).sqrt() * x0 + a.sqrt() * noise

    def off_by_one(x0, noise, t, betas):
        a = torch.cumprod(1 - betas, 0)[t - 1].float().view(-1, 1, 1, 1)  # wraps at t = 0: also wrong
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    assert not week08a.q6.check(alpha_t)
    assert "you used alpha_t" in _out(capsys)
    assert not week08a.q6.check(no_sqrt)
    assert "square roots are missing" in _out(capsys)
    assert not week08a.q6.check(swapped)
    assert "weights are swapped" in _out(capsys)
    assert not week08a.q6.check(off_by_one)
    assert "off by one" in _out(capsys)


def test_08a_q6_reference_uses_the_same_numbers_as_diffusers_scaled_linear_schedule():
    # diffusers' DDPMScheduler(beta_schedule="scaled_linear") builds its betas the same way (float32);
    # tests/test_diffusion.py checks the whole add_noise against the real scheduler.
    betas = week08a.sd_betas().float()
    assert torch.allclose(betas[[0, -1]], torch.tensor([0.00085, 0.012]))
    assert torch.cumprod(1 - betas, 0)[-1] < 0.005  # almost pure noise at the last step


def test_08b_q1_lora_targets_and_wrong_selections_are_named(capsys):
    def substring(names):
        return [n for n in names if any(t in n for t in ("to_q", "to_k", "to_v", "to_out"))]

    def self_attention_only(names):
        return [n for n in names if ".attn1." in n and n.rsplit(".attn1.", 1)[1] in ("to_q", "to_k", "to_v", "to_out.0")]

    def every_linear(names):
        return [n for n in names if n.endswith((".to_q", ".to_k", ".to_v", ".to_out.0", ".proj", ".net.2",
                                                ".proj_in", ".proj_out", ".time_emb_proj"))]

    assert not week08b.q1.check(substring)
    assert "to_out.1" in _out(capsys)
    assert not week08b.q1.check(self_attention_only)
    assert "cross-attention (attn2)" in _out(capsys)
    assert not week08b.q1.check(every_linear)
    assert "every linear layer" in _out(capsys)
    assert week08b.q1.check(lambda names: [n for n in names if n.split(".")[-1] in ("to_q", "to_k", "to_v")
                                           or n.endswith(".to_out.0")])


def test_08b_q2_loss_and_its_typical_mistakes_are_named(capsys):
    mse = torch.nn.functional.mse_loss

    def unscaled(unet, scheduler, latents, noise, timesteps, text, scaling_factor):
        return mse(unet(scheduler.add_noise(latents, noise, timesteps), timesteps, text).sample, noise)

    def against_latents(unet, scheduler, latents, noise, timesteps, text, scaling_factor):
        x0 = latents * scaling_factor
        return mse(unet(scheduler.add_noise(x0, noise, timesteps), timesteps, text).sample, x0)

    def clean_input(unet, scheduler, latents, noise, timesteps, text, scaling_factor):
        return mse(unet(latents * scaling_factor, timesteps, text).sample, noise)

    assert not week08b.q2.check(unscaled)
    assert "the scaling factor is missing" in _out(capsys)
    assert not week08b.q2.check(against_latents)
    assert "target is the noise" in _out(capsys)
    assert not week08b.q2.check(clean_input)
    assert "the UNet saw the clean latents" in _out(capsys)


def test_08b_q2_stand_in_unet_answers_like_diffusers_with_a_sample_field():
    out = week08b._unet(torch.zeros(1, 4, 2, 2), torch.tensor([500]), torch.ones(1, 3, 8))
    assert isinstance(out, SimpleNamespace) and out.sample.shape == (1, 4, 2, 2)


def test_08b_q3_one_projection_or_full_matrix_answers_are_named(capsys):
    assert not week08b.q3.check(8 * 640)
    assert "four of them" in _out(capsys)
    assert not week08b.q3.check(4 * 320 * 320)
    assert "frozen weights" in _out(capsys)


def test_08b_q4_fp16_lora_weights_make_the_grad_scaler_raise_as_the_answer_says(capsys):
    import pytest

    weight = torch.nn.Parameter(torch.ones(4, dtype=torch.float16))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    scaler = torch.amp.GradScaler("cpu")
    scaler.scale(weight.float().sum()).backward()
    with pytest.raises(ValueError, match="Attempting to unscale FP16 gradients"):
        scaler.unscale_(optimizer)
    assert week08b.q4.check("error")
    assert not week08b.q4.check("trains")
    assert "Attempting to unscale FP16 gradients" in _out(capsys)
    assert not week08b.q4.check("nan")
    assert "fails sooner" in _out(capsys)


def test_week_8_notebooks_ask_different_questions():
    a = {ex.question for ex in vars(week08a).values() if isinstance(ex, week08a.Exercise)}
    b = {ex.question for ex in vars(week08b).values() if isinstance(ex, week08b.Exercise)}
    assert len(a) == 6 and len(b) == 4 and not a & b
