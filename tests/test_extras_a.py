"""Extras e1, e2, e4, e5: the helpers behind RL, GNNs, generative models and GPU dataframes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from helpers import frames, graphs, rl
from helpers import generative as gm


# ------------------------------------------------------------------------------------ RL (e1)
def test_random_policy_baseline_is_seeded_and_far_below_the_cartpole_cap():
    a = rl.random_rewards("CartPole-v1", episodes=5, seed=3)
    b = rl.random_rewards("CartPole-v1", episodes=5, seed=3)
    assert np.array_equal(a, b)
    assert 5 < a.mean() < 100  # a random policy keeps the pole up for a few dozen steps


def test_zoo_settings_take_overrides_and_name_the_known_pairs_when_missing():
    hp = rl.settings("ppo", "CartPole-v1", n_steps=8)
    assert hp["n_steps"] == 8 and hp["n_envs"] == 8 and rl.ZOO[("PPO", "CartPole-v1")]["n_steps"] == 32
    with pytest.raises(KeyError, match="known: PPO on CartPole-v1"):
        rl.settings("A2C", "CartPole-v1")


def test_training_run_records_finished_episodes_and_its_speed():
    run = rl.train("PPO", "CartPole-v1", 512, seed=0, n_steps=32, n_epochs=1)
    assert run.timesteps == 512 and run.seconds > 0 and run.steps_per_s > 0
    assert len(run.rewards) == len(run.steps) > 0
    assert all(r >= 1 for r in run.rewards) and run.steps == sorted(run.steps)
    rewards = rl.evaluate(run.model, "CartPole-v1", episodes=2, seed=5)
    assert rewards.shape == (2,) and (rewards >= 1).all()
    assert rl.step_latency(run.model, "cpu", repeats=5) > 0


# ----------------------------------------------------------------------------------- GNN (e2)
def test_smoke_graph_is_reproducible_homophilous_and_split_like_planetoid():
    from torch_geometric.utils import homophily

    a, b = graphs.node_graph("smoke", seed=0), graphs.node_graph("smoke", seed=0)
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.x, b.x)
    assert a.is_undirected() and homophily(a.edge_index, a.y) > 0.7
    assert set(a.x.unique().tolist()) == {0.0, 1.0}  # 0/1 word features, like Cora's
    assert int(a.train_mask.sum()) == 20 * 7
    assert not (a.train_mask & a.test_mask).any() and not (a.val_mask & a.test_mask).any()


def test_gcn_beats_an_mlp_on_the_smoke_graph():
    from torch_geometric.nn import GCN, MLP
    from torch_geometric.transforms import NormalizeFeatures

    data = NormalizeFeatures()(graphs.node_graph("smoke", seed=0))  # as the notebook and the GCN paper do
    assert torch.allclose(data.x.sum(1), torch.ones(data.num_nodes))
    torch.manual_seed(0)
    mlp = MLP([data.num_features, 16, 7], dropout=0.5, norm=None)  # no batch norm: like the GCN
    torch.manual_seed(0)
    gcn = GCN(data.num_features, 16, num_layers=2, out_channels=7, dropout=0.5)
    hist = graphs.fit(mlp, data, 100)
    graphs.fit(gcn, data, 100)
    assert sum(p.numel() for p in mlp.parameters()) == sum(p.numel() for p in gcn.parameters())
    assert len(hist["loss"]) == 100 and hist["loss"][-1] < hist["loss"][0]
    assert graphs.accuracy(gcn, data, data.test_mask) > graphs.accuracy(mlp, data, data.test_mask) + 0.15
    assert graphs.hidden(gcn, data).shape == (data.num_nodes, 16)
    assert graphs.hidden(mlp, data).shape == (data.num_nodes, 16)


def test_full_profile_without_cora_offline_says_what_to_do(monkeypatch, tmp_path):
    from helpers.ready import CannotRunFull

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CannotRunFull, match="smoke"):
        graphs.node_graph("full")


# ---------------------------------------------------------------------------- generative (e4)
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


# ---------------------------------------------------------------------------- dataframes (e5)
def test_query_is_repeatable_and_the_checksum_tells_results_apart():
    table = frames.make_table(5000, keys=50, seed=1)
    first, second = frames.query(table), frames.query(frames.make_table(5000, keys=50, seed=1))
    assert frames.checksum(first) == frames.checksum(second)
    changed = first.copy()
    changed.iloc[0, changed.columns.get_loc("units")] += 1
    assert frames.checksum(changed) != frames.checksum(first)
    assert (first["orders"] <= first["units"]).all() and first.index.is_monotonic_increasing


def test_sweep_times_every_size_on_every_engine_with_matching_checksums():
    out = frames.sweep([100, 1000], repeats=1)
    assert set(out["rows"]) == {100, 1000} and set(out["engine"]) == set(frames.engines())
    assert (out["seconds"] > 0).all()
    assert out.groupby("rows")["checksum"].nunique().eq(1).all()


def test_missing_cudf_is_explained_with_the_install_command():
    module, message = frames.cudf_status()
    if module is None:
        assert "pip install cudf-cu12" in message or "did not start" in message
        assert list(frames.engines()) == ["pandas"]
    else:
        assert "cudf" in frames.engines()


def test_frames_script_prints_timing_and_checksum():
    out = subprocess.run([sys.executable, "-m", "helpers.frames", "--rows", "2000", "--repeats", "1"],
                         capture_output=True, text=True, check=True).stdout
    assert "2,000 rows" in out and "checksum" in out and "cudf.pandas loaded: False" in out


# ----------------------------------------------------------------------------------- exercises
def test_extras_exercises_explain_typical_mistakes(capsys):
    from course.exercises import extras_dataframes, extras_generative, extras_gnn, extras_rl

    cases = [
        (extras_rl.q1, 500, "undiscounted"),
        (extras_rl.q1, 100, "endless episode"),
        (extras_rl.q2, "PPO", "on-policy"),
        (extras_rl.q3, 30, "copies"),
        (extras_rl.q4, "cpu", "CNN"),
        (extras_gnn.q1, 2.0, "self-loop"),
        (extras_gnn.q2, 1 / 2**0.5, "without the self-loops"),
        (extras_gnn.q3, 6, "node 10 itself"),
        (extras_gnn.q3, 5, "two layers"),
        (extras_gnn.q4, "grow", "wrong evidence"),
        (extras_generative.q1, 0.25, "square root"),
        (extras_generative.q2, (16, 1, 28, 28), "output"),
        (extras_generative.q3, 1, "equilibrium"),
        (extras_generative.q4, 4, "GAN"),
        (extras_generative.q4, 1000, "four batches"),
        (extras_dataframes.q1, 240e6 / 2**20, "MiB"),
        (extras_dataframes.q2, 0.0096, "seconds"),
        (extras_dataframes.q3, "small", "fixed cost"),
        (extras_dataframes.q4, "gpu", "falls back"),
    ]
    for ex, wrong, clue in cases:
        assert not ex.check(wrong)
        out = capsys.readouterr().out
        assert clue in out, f"{ex.name} ({wrong!r}): expected {clue!r} in {out!r}"
