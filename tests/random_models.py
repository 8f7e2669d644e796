"""Random phase-type graphs with an independent dense description (alpha, S) to test against."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from phasic import Graph


@dataclass
class Model:
    graph: Graph
    theta: np.ndarray  # (p,)
    alpha: np.ndarray  # (n,)
    S: np.ndarray  # (n, n): sub-intensity (continuous) or sub-transition (discrete)
    vertex_of_row: np.ndarray  # graph vertex index of each row of S

    @property
    def n(self) -> int:
        return self.S.shape[0]


def make_model(
    seed: int, cyclic: bool, discrete: bool = False, p: int = 2, max_n: int = 8
) -> Model:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, max_n + 1))
    absorbing = n
    edges: dict[tuple[int, int], tuple[float, np.ndarray]] = {}
    theta = rng.uniform(0.2, 2.0, size=p)

    def weight_spec(min_base: float) -> tuple[float, np.ndarray]:
        base = float(rng.uniform(min_base, 2.0))
        coef = rng.uniform(0.0, 2.0, size=p) * (rng.random(p) < 0.6)
        return base, coef

    for i in range(n):  # a path to absorption from every vertex
        edges[(i, i + 1 if i + 1 < n else absorbing)] = weight_spec(0.1)
    for _ in range(int(rng.integers(0, 3 * n + 1))):
        i, j = int(rng.integers(0, n)), int(rng.integers(0, n + 1))
        if i == j or (not cyclic and j < i):
            continue
        edges[(i, j)] = weight_spec(0.0)

    if (
        discrete
    ):  # probabilities: rescale each row to a total in [0.3, 1] at this θ (constant graph)
        W = np.zeros((n, n + 1))
        for (i, j), (b, c) in edges.items():
            W[i, j] = b + c @ theta
        W *= (rng.uniform(0.3, 1.0, size=n) / W.sum(axis=1))[:, None]
        edges = {(i, j): (float(W[i, j]), np.zeros(p)) for (i, j) in edges}

    # states: a random permutation of labels so that row order differs from creation order
    labels = rng.permutation(n + 1)
    g = Graph(state_length=1, parameterized=not discrete)
    order = rng.permutation(n)  # creation order of transient vertices
    verts = {}
    for i in order:
        verts[i] = g.find_or_create_vertex([int(labels[i])])
    verts[absorbing] = g.find_or_create_vertex([int(labels[absorbing])])
    start_w = rng.uniform(0.0, 1.0, size=n) * (rng.random(n) < 0.5)
    start_w[int(order[0])] += 0.5
    for i in range(n):
        if start_w[i] > 0:
            g.starting_vertex().add_edge(verts[i], float(start_w[i]))
    for (i, j), (b, c) in edges.items():
        if discrete:
            verts[i].add_edge(verts[j], b)
        else:
            verts[i].add_edge_parameterized(verts[j], b, c)

    S = np.zeros((n, n))
    exit_ = np.zeros(n)
    for (i, j), (b, c) in edges.items():
        w = b + (0.0 if discrete else c @ theta)
        if j == absorbing:
            exit_[i] += w
        else:
            S[i, j] += w
    if discrete:
        S = S + np.diag(1.0 - S.sum(axis=1) - exit_)
    else:
        S = S - np.diag(S.sum(axis=1) + exit_)
    alpha = start_w / start_w.sum()
    vertex_of_row = np.array([verts[i].index for i in range(n)])
    return Model(g, theta if not discrete else np.zeros(0), alpha, S, vertex_of_row)


def models(cyclic: bool, discrete: bool = False, p: int = 2, max_n: int = 8):
    return st.integers(0, 2**32 - 1).map(lambda s: make_model(s, cyclic, discrete, p, max_n))


def vertex_rewards(model: Model, r_rows: np.ndarray) -> np.ndarray:
    """Rewards in graph vertex order from rewards in row order (zeros elsewhere)."""
    out = np.zeros((model.graph.vertices_length(),) + r_rows.shape[1:])
    out[model.vertex_of_row] = r_rows
    return out
