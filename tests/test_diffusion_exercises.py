"""Week 8 exercises: the hidden cases vary every argument, the stand-ins behave like diffusers, the answers hold.

Each exercise's registered wrong and right answers are checked by tests/test_exercise_answers.py; this file checks
what that generic test cannot: that the cases differ in every argument a learner could hard-code, that the stand-in
UNet and scheduler of 8b's q2 answer like diffusers' own, and that the facts the answers state are true.
"""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import pytest
import torch

from course.exercises import week08a, week08b

CODE = {"08a.q5": (week08a, week08a._guide_cases), "08a.q6": (week08a, week08a._noise_cases),
        "08b.q1": (week08b, week08b._target_cases), "08b.q2": (week08b, week08b._loss_cases)}


def _fingerprint(value) -> str:
    """What a hard-coding learner could rely on: the value, or a tensor's shape, dtype and values."""
    if isinstance(value, torch.Tensor):
        return f"{tuple(value.shape)} {value.dtype} {value.flatten()[:8].tolist()}"
    if callable(value) and not isinstance(value, type):
        return getattr(value, "__name__", type(value).__name__)
    if hasattr(value, "betas"):
        return f"schedule of {len(value.betas)} steps ending at {float(value.betas[-1]):.4g}"
    return repr(value)


@pytest.mark.parametrize("name", sorted(CODE))
def test_hidden_cases_vary_every_argument_a_learner_could_hard_code(name):
    _module, cases = CODE[name]
    cases = cases()
    assert len(cases) >= 3, f"{name}: at least three configurations"
    for position in range(len(cases[0].args)):
        seen = {_fingerprint(case.args[position]) for case in cases}
        assert len(seen) > 1, f"{name}: argument {position + 1} is the same in every case"


def test_guidance_cases_cover_more_than_one_dtype_and_a_whole_number_scale():
    cases = week08a._guide_cases()
    assert {case.args[0].dtype for case in cases} >= {torch.float32, torch.float64}
    assert any(isinstance(case.args[1], int) for case in cases)


def test_08a_q6_reference_uses_the_same_numbers_as_diffusers_scaled_linear_schedule():
    # diffusers' DDPMScheduler(beta_schedule="scaled_linear") builds its betas the same way (float32);
    # tests/test_diffusion.py checks the whole add_noise against the real scheduler.
    betas = week08a.sd_betas().float()
    assert torch.allclose(betas[[0, -1]], torch.tensor([0.00085, 0.012]))
    assert torch.cumprod(1 - betas, 0)[-1] < 0.005  # almost pure noise at the last step


def test_08b_q2_stand_in_unet_answers_like_diffusers_with_a_sample_field():
    for unet in (week08b._unet, week08b._other_unet):
        out = unet(torch.zeros(1, 4, 2, 2), torch.tensor([500]), torch.ones(1, 3, 8))
        assert isinstance(out, SimpleNamespace) and out.sample.shape == (1, 4, 2, 2)


def test_08b_q2_stand_in_scheduler_takes_diffusers_argument_names_and_gives_its_numbers():
    from diffusers import DDPMScheduler

    real = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    ours = week08b._Scheduler()
    assert list(inspect.signature(ours.add_noise).parameters) == list(inspect.signature(real.add_noise).parameters)
    g = torch.Generator().manual_seed(1)
    x0, eps, t = torch.randn(2, 4, 3, 3, generator=g), torch.randn(2, 4, 3, 3, generator=g), torch.tensor([7, 640])
    torch.testing.assert_close(ours.add_noise(original_samples=x0, noise=eps, timesteps=t),
                               real.add_noise(original_samples=x0, noise=eps, timesteps=t), rtol=1e-5, atol=1e-5)


def test_08b_q4_fp16_lora_weights_make_the_grad_scaler_raise_as_the_answer_says():
    weight = torch.nn.Parameter(torch.ones(4, dtype=torch.float16))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    scaler = torch.amp.GradScaler("cpu")
    scaler.scale(weight.float().sum()).backward()
    with pytest.raises(ValueError, match="Attempting to unscale FP16 gradients"):
        scaler.unscale_(optimizer)
    assert week08b.q4.check("error")


def test_08b_q3_answer_is_the_lora_parameter_count_peft_adds_to_four_projections():
    from peft import LoraConfig, get_peft_model

    block = torch.nn.ModuleDict({name: torch.nn.Linear(320, 320, bias=False) for name in ("to_q", "to_k", "to_v")})
    block["to_out"] = torch.nn.ModuleList([torch.nn.Linear(320, 320), torch.nn.Dropout(0.0)])
    model = get_peft_model(block, LoraConfig(r=8, target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == week08b.q3.solve()


def test_week_8_notebooks_ask_different_questions():
    a = {ex.question for ex in vars(week08a).values() if isinstance(ex, week08a.Exercise)}
    b = {ex.question for ex in vars(week08b).values() if isinstance(ex, week08b.Exercise)}
    assert len(a) == 6 and len(b) == 4 and not a & b
