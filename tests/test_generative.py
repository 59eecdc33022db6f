"""Extra e4's helpers: the DDPM schedule, networks, loss and sampler, and the GAN loop."""

from __future__ import annotations

import pytest
import torch

from helpers import generative as gm


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


def test_ddpm_loss_falls_and_samples_stay_in_the_image_range():
    torch.manual_seed(0)
    x = torch.zeros(64, 1, 28, 28) - 1  # black images: the easiest target
    x[:, :, 10:18, 12:16] = 1  # with a white bar
    unet, sched = gm.TinyUNet(width=8), gm.linear_schedule(10)
    hist = gm.train_ddpm(unet, x, sched, epochs=4, batch_size=16, lr=1e-3)
    assert hist["epoch_loss"][-1] < hist["epoch_loss"][0]
    samples, snaps = gm.sample_ddpm(unet, sched, n=2, keep=3)
    assert samples.shape == (2, 1, 28, 28) and samples.min() >= -1 and samples.max() <= 1
    assert [t for t, _ in snaps][0] == 9 and snaps[-1][0] == 0


def test_gan_training_reports_every_step_and_calls_back_each_epoch():
    torch.manual_seed(0)
    x = torch.rand(32, 1, 28, 28) * 2 - 1
    seen = []
    hist = gm.train_gan(gm.Generator(16, 8), gm.Discriminator(8), x, epochs=2, batch_size=16, on_epoch=seen.append)
    assert seen == [0, 1] and len(hist["d_loss"]) == len(hist["d_real"]) == 4
    assert all(0 <= p <= 1 for p in hist["d_real"] + hist["d_fake"])
