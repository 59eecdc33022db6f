"""Extra e2: the smoke graph, and the notebook's own training loop with its masked loss, run on it."""

from __future__ import annotations

import pytest
import torch

from course import notebook_code
from helpers import gnn


@pytest.fixture(scope="module")
def nb():
    return notebook_code.definitions("e2", "train_nodes", "accuracy", "logits")


def _graph(homophily: float = 0.8):
    from torch_geometric.transforms import NormalizeFeatures

    return NormalizeFeatures()(gnn.with_planetoid_split(gnn.smoke_graph(seed=0, homophily=homophily), seed=0))


def _models(data):
    from torch_geometric.nn import GCN, MLP

    torch.manual_seed(0)
    mlp = MLP([data.num_features, 16, 7], dropout=0.5, norm=None)  # no batch norm: like the GCN
    torch.manual_seed(0)
    gcn = GCN(data.num_features, 16, num_layers=2, out_channels=7, dropout=0.5)
    return mlp, gcn


def test_smoke_graph_is_reproducible_homophilous_and_split_like_planetoid():
    from torch_geometric.utils import homophily

    a, b = gnn.node_graph("smoke", seed=0), gnn.node_graph("smoke", seed=0)
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.x, b.x)
    assert a.is_undirected() and homophily(a.edge_index, a.y) > 0.7
    assert set(a.x.unique().tolist()) == {0.0, 1.0}  # 0/1 word features, like Cora's
    assert int(a.train_mask.sum()) == 20 * 7
    assert not (a.train_mask & a.test_mask).any() and not (a.val_mask & a.test_mask).any()


def test_the_notebooks_loop_learns_from_the_labelled_nodes_only(nb):
    data = _graph()
    _, gcn = _models(data)
    history = nb.train_nodes(gcn, data, epochs=15)
    scrambled = data.clone()
    unlabelled = ~data.train_mask
    scrambled.y[unlabelled] = scrambled.y[unlabelled].roll(1)  # change every label the loss must not see
    _, gcn_again = _models(scrambled)
    again = nb.train_nodes(gcn_again, scrambled, epochs=15)
    assert again["loss"] == history["loss"] and again["train_acc"] == history["train_acc"]
    assert again["val_acc"] != history["val_acc"]  # validation does read the other labels
    out = nb.logits(gcn, data)
    assert out.shape == (data.num_nodes, 7)


def test_with_the_notebooks_loop_a_gcn_beats_an_mlp_of_the_same_size(nb):
    data = _graph()
    assert torch.allclose(data.x.sum(1), torch.ones(data.num_nodes))  # row-normalised, as in the GCN paper
    mlp, gcn = _models(data)
    hist = nb.train_nodes(mlp, data, epochs=100)
    nb.train_nodes(gcn, data, epochs=100)
    assert sum(p.numel() for p in mlp.parameters()) == sum(p.numel() for p in gcn.parameters())
    assert len(hist["loss"]) == 100 and hist["loss"][-1] < hist["loss"][0]
    assert nb.accuracy(gcn, data, data.test_mask) > nb.accuracy(mlp, data, data.test_mask) + 0.15
    assert gnn.hidden(gcn, data).shape == (data.num_nodes, 16)
    assert gnn.hidden(mlp, data).shape == (data.num_nodes, 16)


def test_the_gcn_falls_below_the_mlp_when_neighbours_disagree(nb):
    from torch_geometric.utils import homophily

    data = _graph(homophily=0.2)
    assert homophily(data.edge_index, data.y) < 0.3
    mlp, gcn = _models(data)
    nb.train_nodes(mlp, data, epochs=100)
    nb.train_nodes(gcn, data, epochs=100)
    assert nb.accuracy(gcn, data, data.test_mask) < nb.accuracy(mlp, data, data.test_mask)


def test_full_profile_without_cora_offline_says_what_to_do(monkeypatch, tmp_path):
    from helpers.ready import CannotRunFull

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CannotRunFull, match="smoke"):
        gnn.node_graph("full")
