"""Exercises for the extra "Graph neural networks: node classification with PyTorch Geometric"."""

from __future__ import annotations

from course.exercises import Case, Exercise, choice, near, same_as
from course.syllabus import objective

NOTEBOOK = "e2-graph-neural-networks"

STORE = objective(NOTEBOOK, "Store a graph")
TRAIN = objective(NOTEBOOK, "Train a GCN")
WHY = objective(NOTEBOOK, "Explain why neighbour")


def _q1_solve() -> float:
    own, neighbours = 6.0, [1.0, 2.0, 3.0]
    return (own + sum(neighbours)) / (1 + len(neighbours))  # the node counts itself (a self-loop)


_q1_check = near(_q1_solve(), rel=0.01, mistakes={
    2.0: "That is the neighbours' mean alone; the layer adds a self-loop, so the node counts too.",
    12.0: "That is the sum; the layer averages.",
    4.0: "You divided the sum of four values by the 3 neighbours; with the node itself there are 4 values.",
    1.5: "You divided by 4 values but left the node's own 6 out of the sum: add it in.",
    6.0: "That is the node's old value; the layer replaces it by the mean over itself and its neighbours.",
})


q1 = Exercise(
    "q1",
    "A simplified graph-convolution layer replaces a node's value by the mean over itself and its neighbours. "
    "The node has value 6; its three neighbours have 1, 2 and 3. What is its new value?",
    _q1_check,
    "Average four numbers: the node's own and its three neighbours'.",
    _q1_solve,
    objective=WHY,
)


def _q2_solve() -> float:
    import math

    # Path 0-1-2-3-4 with self-loops: node 0 has degree 1 + 1 = 2, node 1 has 2 + 1 = 3.
    return 1 / math.sqrt(2 * 3)


_q2_check = near(_q2_solve(), rel=0.01, mistakes={
    1 / 2**0.5: "Those are the degrees without the self-loops; the GCN adds one to every node first.",
    1 / 3: "That is 1/deg(1), a plain mean over node 1's neighbourhood; the GCN weight is symmetric: "
           "1/sqrt(deg(0) deg(1)).",
    1 / 2: "That is 1/deg(0); the GCN weight uses both ends' degrees: 1/sqrt(deg(0) deg(1)).",
    6**0.5: "That is sqrt(deg(0) deg(1)); the weight is one over it.",
    1 / 6: "That is 1/(deg(0) deg(1)); the GCN weight takes the square root of the product first.",
    1 / 5**0.5: "You added the degrees; the GCN weight multiplies them: 1/sqrt(deg(0) deg(1)).",
})


q2 = Exercise(
    "q2",
    "A graph is the path 0-1-2-3-4 (four undirected edges). A GCN layer adds self-loops and weighs the "
    "message between nodes i and j by 1/sqrt(deg(i) deg(j)). What weight does the edge between node 0 and "
    "node 1 get? (a number)",
    _q2_check,
    "Count each node's neighbours, add one for the self-loop, then take 1/sqrt of the product.",
    _q2_solve,
    objective=WHY,
)


def _q3_solve() -> int:
    layers = 3
    return 1 + 2 * layers  # on a path, node 10 hears nodes 10 - 3 .. 10 + 3: one hop more per layer, itself included


_q3_check = near(_q3_solve(), rel=0.0, unit="nodes", mistakes={
    6: "Count node 10 itself too: the self-loop keeps its own features in every layer.",
    3: "That is one side only: on a path, information arrives from both directions.",
    5: "That is two layers' reach (two hops each way); this GCN has three layers.",
    4: "That is node 10 and one side only (three hops): on a path, information arrives from both directions.",
    21: "That is the whole graph; three layers reach only three hops away, on each side.",
})


q3 = Exercise(
    "q3",
    "A graph is a long path: node 0 - node 1 - node 2 - ... - node 20. A GCN with num_layers=3 predicts node "
    "10's class. The features of how many nodes (node 10 included) can change that prediction?",
    _q3_check,
    "Each layer mixes a node with its direct neighbours (one hop), so L layers reach L hops away, on both sides.",
    _q3_solve,
    objective=TRAIN,
)


def _q4_solve() -> str:
    return "shrink"


_q4_check = choice("shrink", {
    "grow": (
        "with homophily 0.2 most neighbours belong to other classes, so averaging over them mixes "
        "in the wrong evidence rather than cancelling noise."),
})


q4 = Exercise(
    "q4",
    "Predict before section 4 measures it: on a graph where only 20 % of the edges link nodes of the same class "
    "(homophily 0.2, against 0.8 above), would the GCN's lead over the MLP 'grow' or 'shrink'?",
    _q4_check,
    "A GCN layer averages a node with its neighbours. What does that average contain when most neighbours differ?",
    _q4_solve,
    objective=WHY,
    wrong=(("same", "not one of the options"),),
    right=("Shrink", " shrink"),
)


def gcn_layer(adjacency, x, weight):
    """One GCN layer on a dense graph, without the activation: D^-1/2 (A + I) D^-1/2 X W."""
    import torch

    a_hat = adjacency + torch.eye(adjacency.shape[0], dtype=adjacency.dtype)  # every node keeps its own vector
    d_inv_sqrt = a_hat.sum(1).pow(-0.5)  # degrees counted with the self-loop
    norm = d_inv_sqrt[:, None] * a_hat * d_inv_sqrt[None, :]  # entry (i, j) is 1 / sqrt(deg(i) deg(j))
    return norm @ x @ weight


def _gcn_diag_matrices(adjacency, x, weight):
    """Another style: the formula as matrices, D^-1/2 built with torch.diag."""
    import torch

    a_hat = adjacency + torch.eye(len(adjacency), dtype=adjacency.dtype)
    d = torch.diag(a_hat.sum(1) ** -0.5)
    return d @ a_hat @ d @ (x @ weight)


def _gcn_edge_loop(adjacency, x, weight):
    """Another style: a message per edge (self-loops included), as PyG does with edge_index, summed in a loop."""
    import torch

    n = len(adjacency)
    a_hat = adjacency + torch.eye(n, dtype=adjacency.dtype)
    deg = a_hat.sum(1)
    h = x @ weight
    out = torch.zeros_like(h)
    for i, j in a_hat.nonzero().tolist():  # the message from node j to node i
        out[i] += h[j] / torch.sqrt(deg[i] * deg[j])
    return out


def _no_self_loops(adjacency, x, weight):
    d = adjacency.sum(1).clamp(min=1).pow(-0.5)
    return (d[:, None] * adjacency * d[None, :]) @ x @ weight


def _row_mean(adjacency, x, weight):
    import torch

    a_hat = adjacency + torch.eye(adjacency.shape[0], dtype=adjacency.dtype)
    return (a_hat / a_hat.sum(1, keepdim=True)) @ x @ weight


def _not_normalised(adjacency, x, weight):
    import torch

    return (adjacency + torch.eye(adjacency.shape[0], dtype=adjacency.dtype)) @ x @ weight


def _inverse_degrees(adjacency, x, weight):
    import torch

    a_hat = adjacency + torch.eye(adjacency.shape[0], dtype=adjacency.dtype)
    d = a_hat.sum(1).pow(-1)  # D^-1 on both sides
    return (d[:, None] * a_hat * d[None, :]) @ x @ weight


def _one_side(adjacency, x, weight):
    import torch

    a_hat = adjacency + torch.eye(adjacency.shape[0], dtype=adjacency.dtype)
    return (a_hat.sum(1).pow(-0.5)[:, None] * a_hat) @ x @ weight  # D^-1/2 on the left only


def _degrees_without_self_loops(adjacency, x, weight):
    import torch

    a_hat = adjacency + torch.eye(adjacency.shape[0], dtype=adjacency.dtype)
    d = adjacency.sum(1).clamp(min=1).pow(-0.5)  # the degrees of A, not of A + I
    return (d[:, None] * a_hat * d[None, :]) @ x @ weight


def _identity_after(adjacency, x, weight):
    import torch

    d = adjacency.sum(1).clamp(min=1).pow(-0.5)
    eye = torch.eye(adjacency.shape[0], dtype=adjacency.dtype)
    return (eye + d[:, None] * adjacency * d[None, :]) @ x @ weight  # I + D^-1/2 A D^-1/2


def _column_mean(adjacency, x, weight):
    import torch

    a_hat = adjacency + torch.eye(adjacency.shape[0], dtype=adjacency.dtype)
    return (a_hat / a_hat.sum(0, keepdim=True)) @ x @ weight  # (A + I) D^-1: each column divided by its degree


def _with_relu(adjacency, x, weight):
    return gcn_layer(adjacency, x, weight).relu()


def _adds_self_loops_in_place(adjacency, x, weight):
    import torch

    adjacency += torch.eye(adjacency.shape[0], dtype=adjacency.dtype)  # the caller's graph now has self-loops
    d = adjacency.sum(1).pow(-0.5)
    return (d[:, None] * adjacency * d[None, :]) @ x @ weight


def _gcn_cases() -> list[Case]:
    import torch

    gen = torch.Generator().manual_seed(5)
    path = torch.zeros(4, 4)
    for i in range(3):
        path[i, i + 1] = path[i + 1, i] = 1.0
    star = torch.zeros(5, 5)  # node 0 is a hub linked to 1, 2, 3; node 4 has no edge at all
    star[0, 1:4] = star[1:4, 0] = 1.0
    rand = (torch.rand(6, 6, generator=gen) < 0.4).float().triu(1)
    rand = rand + rand.T
    return [
        Case("a path of 4 nodes, 3 features, 2 outputs",
             (path, torch.randn(4, 3, generator=gen), torch.randn(3, 2, generator=gen))),
        Case("a star (a hub with 3 leaves) plus one isolated node",
             (star, torch.randn(5, 2, generator=gen), torch.randn(2, 3, generator=gen))),
        Case("a random graph of 6 nodes", (rand, torch.randn(6, 4, generator=gen), torch.randn(4, 4, generator=gen))),
        Case("a triangle in float64, one output per node",
             (torch.ones(3, 3, dtype=torch.float64) - torch.eye(3, dtype=torch.float64),
              torch.randn(3, 5, generator=gen, dtype=torch.float64), torch.randn(5, 1, generator=gen, dtype=torch.float64))),
    ]


q5 = Exercise(
    "q5",
    "Write gcn_layer(adjacency, x, weight): one GCN layer on a small dense graph, without the activation. "
    "adjacency is an n x n 0/1 tensor (symmetric, no self-loops), x is n x f, weight is f x h. Return "
    "D^-1/2 (A + I) D^-1/2 X W, where D holds the degrees of A + I.",
    same_as(gcn_layer, _gcn_cases, mistakes=[
        (_no_self_loops, "you left out the self-loops: add the identity to A before computing the degrees, "
                         "so each node keeps its own features (and an isolated node is not lost)."),
        (_row_mean, "you divided each row by its degree (a plain mean, D^-1 (A + I)); the GCN normalises "
                    "symmetrically, by 1/sqrt(deg(i) deg(j))."),
        (_not_normalised, "you summed the neighbours without normalising: hubs would get huge vectors. "
                          "Scale entry (i, j) by 1/sqrt(deg(i) deg(j))."),
        (_inverse_degrees, "you divided by deg(i) deg(j); the GCN divides by its square root: D^-1/2 on each "
                           "side (degrees ** -0.5)."),
        (_column_mean, "you divided each column by its degree ((A + I) D^-1); the GCN normalises "
                       "symmetrically, entry (i, j) by 1/sqrt(deg(i) deg(j))."),
        (_one_side, "you scaled the rows only (D^-1/2 on the left); the GCN scales both sides, "
                    "D^-1/2 (A + I) D^-1/2: multiply the columns by d too."),
        (_degrees_without_self_loops, "you counted the degrees on A; D holds the degrees of A + I, each node's "
                                      "self-loop included: sum the rows of a_hat."),
        (_identity_after, "you added the identity after normalising (I + D^-1/2 A D^-1/2); the GCN adds the "
                          "self-loops first and normalises A + I with its own degrees."),
        (_with_relu, "you applied an activation; the question asks for the layer without it (the model applies "
                     "ReLU between layers)."),
    ], alternatives=[_gcn_diag_matrices, _gcn_edge_loop], expects="your gcn_layer function"),
    "a_hat = adjacency + torch.eye(n); d = a_hat.sum(1) ** -0.5; then (d[:, None] * a_hat * d[None, :]) @ x @ weight.",
    lambda: gcn_layer,
    objective=WHY,
    wrong=((_adds_self_loops_in_place, "in place"),),
)
