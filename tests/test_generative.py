"""Extra e4: the helpers' schedule, networks and sampler, and the notebook's own GAN and DDPM loops on tiny data."""

from __future__ import annotations

import inspect

import pytest
import torch

from course import notebook_code
from helpers import generative as gm


@pytest.fixture(scope="module")
def nb():
    return notebook_code.definitions("e4", "train_gan", "train_ddpm", "add_noise")


@pytest.mark.parametrize("steps", [100, 1000])
def test_noise_schedule_ends_in_almost_pure_noise_whatever_the_number_of_steps(steps):
    sched = gm.linear_schedule(steps)
    abar = sched["alpha_bar"]
    assert len(abar) == steps and abar[0] > 0.99 and abar[-1] < 1e-3
    assert torch.all(abar[1:] < abar[:-1])


def test_networks_map_noise_to_images_and_images_to_noise_predictions():
    torch.manual_seed(0)
    g, d, unet = gm.Generator(nz=16, width=8), gm.Discriminator(width=8), gm.TinyUNet(width=8)
    images = g(torch.randn(3, 16, 1, 1))
    assert images.shape == (3, 1, 28, 28) and images.abs().max() <= 1
    assert d(images).shape == (3, 1)
    assert unet(images, torch.tensor([0, 5, 9])).shape == images.shape


def test_batches_come_one_at_a_time_without_copying_the_data_set():
    x = torch.arange(10.0).view(10, 1, 1, 1)
    epoch = gm.batches(x, 3, torch.Generator().manual_seed(0))
    assert inspect.isgenerator(epoch)  # not a list: a list of every batch is a second copy of the data
    seen = torch.cat([b.flatten() for b in epoch])
    assert len(seen) == 9 and len(set(seen.tolist())) == 9  # three full batches, no image twice, the rest dropped


def test_the_notebooks_forward_jump_is_the_helpers_and_the_closed_form(nb):
    sched = gm.linear_schedule(1000)
    gen = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(4, 1, 28, 28, generator=gen), torch.randn(4, 1, 28, 28, generator=gen)
    t = torch.tensor([0, 10, 500, 999])
    got = nb.add_noise(x0, t, noise, sched["alpha_bar"])
    torch.testing.assert_close(got, gm.add_noise(x0, t, noise, sched["alpha_bar"]))
    a = sched["alpha_bar"][500]
    torch.testing.assert_close(got[2], a.sqrt() * x0[2] + (1 - a).sqrt() * noise[2])


@pytest.mark.slow
def test_the_notebooks_forward_jump_matches_diffusers_ddpm_scheduler(nb):
    from diffusers import DDPMScheduler

    sched = gm.linear_schedule(1000)  # at T = 1000, Ho et al.'s betas unscaled
    ref = DDPMScheduler(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule="linear")
    torch.testing.assert_close(sched["alpha_bar"], ref.alphas_cumprod)
    gen = torch.Generator().manual_seed(1)
    x0, noise = torch.randn(3, 1, 28, 28, generator=gen), torch.randn(3, 1, 28, 28, generator=gen)
    t = torch.tensor([3, 400, 998])
    torch.testing.assert_close(nb.add_noise(x0, t, noise, sched["alpha_bar"]), ref.add_noise(x0, noise, t))


def test_the_notebooks_ddpm_loop_lowers_the_loss_and_the_samples_stay_in_the_image_range(nb, capsys):
    torch.manual_seed(0)
    x = torch.zeros(64, 1, 28, 28) - 1  # black images: the easiest target
    x[:, :, 10:18, 12:16] = 1  # with a white bar
    unet, sched = gm.TinyUNet(width=8), gm.linear_schedule(10)
    hist = nb.train_ddpm(unet, x, sched, epochs=4, batch_size=16, lr=1e-3)
    assert len(hist["loss"]) == 16 and len(hist["epoch_loss"]) == 4
    assert hist["epoch_loss"][-1] < hist["epoch_loss"][0]
    assert "epoch 4/4" in capsys.readouterr().out
    samples, snaps = gm.sample_ddpm(unet, sched, n=2, keep=3)
    assert samples.shape == (2, 1, 28, 28) and samples.min() >= -1 and samples.max() <= 1
    assert [t for t, _ in snaps][0] == 9 and snaps[-1][0] == 0


def test_the_notebooks_gan_loop_takes_both_steps_on_every_batch_and_calls_back_each_epoch(nb):
    torch.manual_seed(0)
    x = torch.rand(32, 1, 28, 28) * 2 - 1
    G, D = gm.Generator(16, 8), gm.Discriminator(8)
    g_before = [p.detach().clone() for p in G.parameters()]
    d_before = [p.detach().clone() for p in D.parameters()]
    seen = []
    hist = nb.train_gan(G, D, x, epochs=2, batch_size=16, on_epoch=seen.append)
    assert seen == [0, 1] and len(hist["d_loss"]) == len(hist["g_loss"]) == len(hist["d_real"]) == 4
    assert all(0 <= p <= 1 for p in hist["d_real"] + hist["d_fake"])
    assert all(not torch.equal(a, b) for a, b in zip(g_before, G.parameters(), strict=True))  # the generator learned
    assert all(not torch.equal(a, b) for a, b in zip(d_before, D.parameters(), strict=True))  # and the discriminator
