"""Models used by the tests: the library's ready-made ones plus a hand-built birth-death chain."""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg as sl

from phasic import Graph, models
from phasic.graph import Transitions
from phasic.models import block_counting, kingman, rabbits, sfs_rewards, two_island_migration

__all__ = [
    "birth_death",
    "block_counting",
    "dense_count_table",
    "dense_epoch_moments",
    "grid_posterior",
    "kingman",
    "rabbits",
    "sfs_rewards",
    "two_island_migration",
]


def birth_death(n_max: int, birth: float, death: float) -> Graph:
    """Birth-death chain on 1..n_max (birth blocked at n_max), absorbed at 0."""
    g = Graph(state_length=1)
    vs = [g.find_or_create_vertex([k]) for k in range(n_max + 1)]
    g.starting_vertex().add_edge(vs[1], 1.0)
    for k in range(1, n_max + 1):
        if k < n_max:
            vs[k].add_edge(vs[k + 1], birth * k)
        vs[k].add_edge(vs[k - 1], death * k)
    return g


def _full_generator(graph: Graph, theta) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(alpha over transient + absorbing, full generator Q, vertex index of the transient rows)."""
    m = graph.as_matrices(theta=np.atleast_1d(np.asarray(theta, dtype=float)))
    n = m.S.shape[0]
    Q = np.zeros((n + 1, n + 1))
    Q[:n, :n] = m.S
    Q[:n, n] = -m.S.sum(axis=1)
    return np.append(m.alpha, 1 - m.alpha.sum()), Q, m.vertex_index


def dense_epoch_moments(graph: Graph, rewards, thetas, starts, k: int, t_end: float = 80.0):
    """E[Y^j] (j = 1..k) and, for two reward vectors, E[Y_a Y_b], under piecewise-constant θ,
    by matrix exponentials of the forward moment generator of the full chain (absorbing state
    kept): ``d/dt v_j = v_j Q + v_{j-1} R`` with v_j(t)_x = E[Y_t^j / j!; X_t = x], run past
    ``t_end`` after the last start (when the chain has long been absorbed).

    ``rewards`` is one vector (vertices,) or two columns (vertices, 2); for two columns the
    result is (k moments of column 0, E[Y_0 Y_1])."""
    r = np.asarray(rewards, dtype=float)
    a0, _, vi = _full_generator(graph, thetas[0])
    N = a0.size
    ends = list(starts[1:]) + [starts[-1] + t_end]
    if r.ndim == 1:
        Rm = np.diag(np.append(r[vi], 0.0))
        v = np.zeros((k + 1) * N)
        v[:N] = a0
        for e, th in enumerate(thetas):
            _, Q, _ = _full_generator(graph, th)
            G = np.kron(np.eye(k + 1), Q) + np.kron(np.eye(k + 1, k=1), Rm)
            v = v @ sl.expm(G * (ends[e] - starts[e]))
        return np.array([math.factorial(j) * v[j * N : (j + 1) * N].sum() for j in range(1, k + 1)])
    # blocks: 1, Y_a, Y_b, Y_a Y_b
    Ra, Rb = (np.diag(np.append(r[vi, c], 0.0)) for c in (0, 1))
    v = np.zeros(4 * N)
    v[:N] = a0
    for e, th in enumerate(thetas):
        _, Q, _ = _full_generator(graph, th)
        G = np.kron(np.eye(4), Q)
        G[:N, N : 2 * N] = Ra
        G[:N, 2 * N : 3 * N] = Rb
        G[N : 2 * N, 3 * N :] = Rb
        G[2 * N : 3 * N, 3 * N :] = Ra
        v = v @ sl.expm(G * (ends[e] - starts[e]))
    return v[3 * N :].sum()


def dense_count_table(graph: Graph, rewards, rate: float, thetas, starts, K: int, t_end=80.0):
    """Joint pmf (K+1,)*R of the counts of events at ``rate × rewards[:, a]`` until absorption,
    under piecewise-constant θ, from matrix exponentials of the chain on (state, counts) with
    counts capped at K + 1 (past the table), run past ``t_end`` after the last start."""
    r = np.asarray(rewards, dtype=float).reshape(graph.vertices_length(), -1)
    R = r.shape[1]
    a0, _, vi = _full_generator(graph, thetas[0])
    N = a0.size
    cells = list(np.ndindex(*(K + 2,) * R))
    pos = {c: i for i, c in enumerate(cells)}
    v = np.zeros(N * len(cells))
    v[:N] = a0  # cell (0, ..., 0) holds the first N entries
    ends = list(starts[1:]) + [starts[-1] + t_end]
    for e, th in enumerate(thetas):
        _, Q, _ = _full_generator(graph, th)
        G = np.kron(np.eye(len(cells)), Q)
        for c in cells:
            for a in range(R):
                if c[a] == K + 1:
                    continue
                to = c[:a] + (c[a] + 1,) + c[a + 1 :]
                for i in range(N - 1):
                    rate_i = rate * r[vi[i], a]
                    G[pos[c] * N + i, pos[c] * N + i] -= rate_i
                    G[pos[c] * N + i, pos[to] * N + i] += rate_i
        v = v @ sl.expm(G * (ends[e] - starts[e]))
    table = np.array([v[pos[c] * N + N - 1] for c in cells]).reshape((K + 2,) * R)
    return table[(slice(0, K + 1),) * R]


def grid_posterior(graph: Graph, times, grid0, grid1) -> tuple[np.ndarray, np.ndarray]:
    """The exact posterior of a 2-parameter model given absorption times, with a Gamma(2, 1)
    prior on each rate, on the grid ``grid0 x grid1``: (points (G, 2), weights (G,) summing to
    1), from the eager batched pdf."""
    th = np.stack(np.meshgrid(grid0, grid1, indexing="ij"), -1).reshape(-1, 2)
    ll = np.log(graph.pdf(times, theta=th)).sum(axis=1) + np.sum(np.log(th) - th, axis=1)
    w = np.exp(ll - ll.max())
    return th, w / w.sum()


def two_parameter_block_counting(n: int) -> Graph:
    """Block counting with every coalescence at rate (θ0 + θ1) · C: the same chain as the
    one-parameter model at θ = θ0 + θ1, but not a pure scale, so its epochs are carried through
    the graph (the Coxian carry and a solve) instead of by the change of clock."""
    _, rules = models._block_counting_rules(n)

    def two(states):
        out = []
        for kind in rules(states):  # Transitions(rows, next, base, coef) or [next, base, coef]
            *head, c = kind
            c = np.asarray(c, dtype=float)
            twice = np.column_stack([c[:, 0], c[:, 0]])
            out.append(
                Transitions(*head, twice) if isinstance(kind, Transitions) else [*head, twice]
            )
        return out

    return Graph(callback=two, vectorized=True, parameterized=True)
