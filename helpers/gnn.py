"""Graph neural networks with PyTorch Geometric: the graphs, and a look at what the models learned.

``node_graph(P)`` returns Cora (full, downloaded once by ``torch_geometric.datasets.Planetoid``)
or, in smoke, a citation-like graph generated offline the way PyG's ``RandomPartitionGraphDataset``
does: communities with mostly within-community edges and weak, noisy bag-of-words features, the
situation where looking at neighbours pays (``smoke_graph(homophily=...)`` turns that knob). The
models come from PyG (``GCN``, ``MLP``); the training loop, with its masked loss, is the notebook's
own; ``hidden`` and ``plot_embeddings`` draw the embeddings the models learned.

Taught in extra e2 (e2-graph-neural-networks).
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from helpers.cache import data_dir
from helpers.profiles import resolve_profile
from helpers.ready import CannotRunFull, data_missing, dataset_problem


def _import_pyg() -> None:
    """Import PyG once without its torch.jit deprecation warnings (noise for a learner, not our code)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import torch_geometric  # noqa: F401


def smoke_graph(seed: int = 0, num_classes: int = 7, nodes_per_class: int = 60, homophily: float = 0.8,
                average_degree: float = 4.0, num_features: int = 128, topic_words: int = 16,
                base: float = 0.05, signal: float = 0.15) -> Any:
    """A Cora-like graph made offline: communities (classes), homophilous edges, weak 0/1 word features."""
    _import_pyg()
    from torch_geometric.data import Data
    from torch_geometric.utils import stochastic_blockmodel_graph

    # Edge probabilities as in PyG's RandomPartitionGraphDataset: a share ``homophily`` of each
    # node's expected ``average_degree`` edges stays inside its community.
    p_in = homophily * average_degree / nodes_per_class
    p_out = (average_degree / nodes_per_class - p_in) / (num_classes - 1)
    probs = torch.full((num_classes, num_classes), p_out).fill_diagonal_(p_in)
    gen = torch.manual_seed(seed)  # stochastic_blockmodel_graph draws with torch's global generator
    edge_index = stochastic_blockmodel_graph([nodes_per_class] * num_classes, probs)
    y = torch.arange(num_classes).repeat_interleave(nodes_per_class)
    # Features, 0/1 "words" like Cora's: each class has ``topic_words`` favourite words; a node
    # contains any word with probability ``base`` and its class's words with ``base + signal``.
    # Alone a node's few words identify its class poorly; averaged over neighbours of the same
    # class (what a GCN layer does) the noise shrinks and the topic shows.
    topics = torch.zeros(num_classes, num_features)
    for c in range(num_classes):
        topics[c, torch.randperm(num_features, generator=gen)[:topic_words]] = 1.0
    x = torch.bernoulli(base + signal * topics[y], generator=gen)
    return Data(x=x, edge_index=edge_index, y=y, num_nodes=len(y))


def with_planetoid_split(data: Any, per_class: int = 20, val_share: float = 0.25, seed: int = 0) -> Any:
    """Add Planetoid-style masks: ``per_class`` labelled nodes per class to train on, then validation and test."""
    from torch_geometric.transforms import RandomNodeSplit

    torch.manual_seed(seed)
    rest = data.num_nodes - per_class * (int(data.y.max()) + 1)
    return RandomNodeSplit("test_rest", num_train_per_class=per_class, num_val=int(rest * val_share))(data)


def node_graph(profile: str = "auto", seed: int = 0) -> Any:
    """Cora with its standard split (full) or the generated stand-in with the same kind of split (smoke)."""
    _import_pyg()
    if resolve_profile(profile) == "smoke":
        return with_planetoid_split(smoke_graph(seed), seed=seed)
    from torch_geometric.datasets import Planetoid

    root = data_dir("pyg")
    try:
        if dataset_problem("pyg:Cora"):
            raise data_missing("pyg:Cora", "Cora is missing")
        return Planetoid(str(root), "Cora")[0]
    except CannotRunFull:
        raise
    except Exception as err:  # noqa: BLE001 - no network or a proxy: one clear message for the learner
        raise CannotRunFull(f"could not download Cora into {root} ({type(err).__name__}: {err}). Check your "
                            "internet connection, or set PROFILE = \"smoke\".") from None


def _forward(model: Any, data: Any) -> torch.Tensor:
    from torch_geometric.nn import MLP

    return model(data.x) if isinstance(model, MLP) else model(data.x, data.edge_index)


@torch.no_grad()
def hidden(model: Any, data: Any) -> torch.Tensor:
    """The nodes' hidden representation: what enters the model's last layer (its learned embedding)."""
    last = model.convs[-1] if hasattr(model, "convs") else model.lins[-1]
    seen: list[torch.Tensor] = []
    handle = last.register_forward_hook(lambda _m, inputs, _out: seen.append(inputs[0].detach()))
    try:
        model.eval()
        _forward(model, data)
    finally:
        handle.remove()
    return seen[0].cpu()


def plot_embeddings(z: torch.Tensor, y: torch.Tensor, title: str, method: str = "tsne", seed: int = 0,
                    ax: Any = None) -> Any:
    """Project embeddings to 2-D (t-SNE or PCA, from scikit-learn) and colour each node by its class."""
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if method == "tsne":
        xy = TSNE(n_components=2, init="pca", perplexity=min(30.0, (len(z) - 1) / 3), random_state=seed).fit_transform(z)
    else:
        xy = PCA(n_components=2, random_state=seed).fit_transform(z)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.scatter(xy[:, 0], xy[:, 1], c=y.cpu().numpy(), cmap="tab10", s=6)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax
