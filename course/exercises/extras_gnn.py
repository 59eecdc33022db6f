"""Exercises for the extra "Graph neural networks: node classification with PyTorch Geometric"."""

from __future__ import annotations

from typing import Any

from course.exercises import Exercise, near

NOTEBOOK = "e2-graph-neural-networks"


def _q1_solve() -> float:
    own, neighbours = 6.0, [1.0, 2.0, 3.0]
    return (own + sum(neighbours)) / (1 + len(neighbours))  # the node counts itself (a self-loop)


_q1_check = near(_q1_solve(), rel=0.01, mistakes={
    2.0: "That is the neighbours' mean alone; the layer adds a self-loop, so the node counts too.",
    12.0: "That is the sum; the layer averages.",
})


q1 = Exercise(
    "q1",
    "A simplified graph-convolution layer replaces a node's value by the mean over itself and its neighbours. "
    "The node has value 6; its three neighbours have 1, 2 and 3. What is its new value?",
    _q1_check,
    "Average four numbers: the node's own and its three neighbours'.",
    _q1_solve,
)


def _q2_solve() -> int:
    per_class, classes = 20, 7
    return per_class * classes


_q2_check = near(_q2_solve(), rel=0.0, unit="nodes", mistakes={
    20: "20 is per class; Cora has 7 classes.",
    2708: "That is every node; the semi-supervised split labels only a few per class.",
})


q2 = Exercise(
    "q2",
    "Cora's standard split labels 20 papers per topic for training. How many training nodes is that?",
    _q2_check,
    "Count the classes (print num_classes) and multiply.",
    _q2_solve,
)


def _q3_solve() -> int:
    return 2  # each GCN layer passes information one hop along the edges


_q3_check = near(_q3_solve(), rel=0.0, unit="hops",
                 mistakes={1: "One hop per layer, and the model has more than one layer."})


q3 = Exercise(
    "q3",
    "Our GCN has num_layers=2. From how many hops away can a node's features reach another node's prediction?",
    _q3_check,
    "Each layer mixes a node with its direct neighbours; stack the layers.",
    _q3_solve,
)


def _q4_solve() -> str:
    return "shrink"


def _q4_check(answer: Any) -> str | None:
    if not isinstance(answer, str) or answer.strip().lower() not in ("grow", "shrink"):
        return "answer 'grow' or 'shrink'."
    if answer.strip().lower() == "grow":
        return ("with homophily 0.2 most neighbours belong to other classes, so averaging over them mixes "
                "in the wrong evidence rather than cancelling noise.")
    return None


q4 = Exercise(
    "q4",
    "If only 20 % of the edges linked nodes of the same class (homophily 0.2), would the GCN's lead "
    "over the MLP 'grow' or 'shrink'?",
    _q4_check,
    "A GCN layer averages a node with its neighbours. What does that average contain when most neighbours differ?",
    _q4_solve,
)
