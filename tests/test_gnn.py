"""Extra e2's helpers: the smoke graph, GCN against an MLP, Cora offline."""

from __future__ import annotations

import pytest
import torch

from helpers import gnn


def test_smoke_graph_is_reproducible_homophilous_and_split_like_planetoid():
    from torch_geometric.utils import homophily

    a, b = gnn.node_graph("smoke", seed=0), gnn.node_graph("smoke", seed=0)
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.x, b.x)
    assert a.is_undirected() and homophily(a.edge_index, a.y) > 0.7
    assert set(a.x.unique().tolist()) == {0.0, 1.0}  # 0/1 word features, like Cora's
    assert int(a.train_mask.sum()) == 20 * 7
    assert not (a.train_mask & a.test_mask).any() and not (a.val_mask & a.test_mask).any()


def test_gcn_beats_an_mlp_on_the_smoke_graph():
    from torch_geometric.nn import GCN, MLP
    from torch_geometric.transforms import NormalizeFeatures

    data = NormalizeFeatures()(gnn.node_graph("smoke", seed=0))  # as the notebook and the GCN paper do
    assert torch.allclose(data.x.sum(1), torch.ones(data.num_nodes))
    torch.manual_seed(0)
    mlp = MLP([data.num_features, 16, 7], dropout=0.5, norm=None)  # no batch norm: like the GCN
    torch.manual_seed(0)
    gcn = GCN(data.num_features, 16, num_layers=2, out_channels=7, dropout=0.5)
    hist = gnn.fit(mlp, data, 100)
    gnn.fit(gcn, data, 100)
    assert sum(p.numel() for p in mlp.parameters()) == sum(p.numel() for p in gcn.parameters())
    assert len(hist["loss"]) == 100 and hist["loss"][-1] < hist["loss"][0]
    assert gnn.accuracy(gcn, data, data.test_mask) > gnn.accuracy(mlp, data, data.test_mask) + 0.15
    assert gnn.hidden(gcn, data).shape == (data.num_nodes, 16)
    assert gnn.hidden(mlp, data).shape == (data.num_nodes, 16)


def test_full_profile_without_cora_offline_says_what_to_do(monkeypatch, tmp_path):
    from helpers.ready import CannotRunFull

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CannotRunFull, match="smoke"):
        gnn.node_graph("full")
