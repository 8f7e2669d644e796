"""Models used by the tests, each built independently of the code under test where it matters."""

from __future__ import annotations

import itertools

import numpy as np

from phasic import Graph


def kingman(n: int) -> Graph:
    """Kingman coalescent of n samples, rate k(k-1)/2 · θ (the seed's cell 4)."""

    def cb(state, nr_samples=n):
        if not state.size:
            return [[[nr_samples], 1.0, [1.0]]]
        k = state[0]
        if k > 1:
            return [[[k - 1], 0.0, [k * (k - 1) / 2]]]
        return []

    return Graph(callback=cb, parameterized=True, nr_samples=n)


def block_counting(n: int) -> Graph:
    """Block-counting coalescent: state[i] = lineages subtending i + 1 of the n samples."""

    def cb(state):
        if not state.size:
            s = np.zeros(n, dtype=int)
            s[0] = n
            return [[s, 1.0, [1.0]]]
        out = []
        idx = np.flatnonzero(state)
        for a, b in itertools.combinations_with_replacement(idx, 2):
            rate = state[a] * (state[a] - 1) / 2 if a == b else state[a] * state[b]
            if rate <= 0:
                continue
            new = state.copy()
            new[a] -= 1
            new[b] -= 1
            new[a + b + 1] += 1
            out.append([new, 0.0, [rate]])
        return out

    return Graph(callback=cb, parameterized=True)


def sfs_rewards(graph: Graph, n: int) -> np.ndarray:
    """Reward matrix (vertices, n - 1): column i counts branches subtending i + 1 samples."""
    st = graph.states()
    r = st[:, : n - 1].astype(float)
    r[0] = 0
    return r


def two_island_migration(n: int) -> Graph:
    """Structured coalescent: two islands, θ = (coal1, coal2, migration), all n start in island 1.

    State (a, b): lineages in island 1 and 2; absorbing when a + b == 1.
    """

    def cb(state):
        if not state.size:
            return [[[n, 0], 1.0, [0.0, 0.0, 0.0]]]
        a, b = int(state[0]), int(state[1])
        if a + b <= 1:
            return []
        out = []
        if a > 1:
            out.append([[a - 1, b], 0.0, [a * (a - 1) / 2, 0.0, 0.0]])
        if b > 1:
            out.append([[a, b - 1], 0.0, [0.0, b * (b - 1) / 2, 0.0]])
        if a > 0:
            out.append([[a - 1, b + 1], 0.0, [0.0, 0.0, float(a)]])
        if b > 0:
            out.append([[a + 1, b - 1], 0.0, [0.0, 0.0, float(b)]])
        return out

    return Graph(callback=cb, parameterized=True)


def rabbits(n: int, flood_left: float = 2.0, flood_right: float = 4.0) -> Graph:
    """The rabbit model of Røikjer, Hobolth & Munch (2022): rabbits jump between two islands at
    rate 1 each; a flood kills all rabbits on an island (rates flood_left, flood_right)."""

    def cb(state):
        if not state.size:
            return [[[n, 0], 1.0]]
        left, right = int(state[0]), int(state[1])
        if left + right == 0:
            return []
        out = []
        if left:
            out.append([[left - 1, right + 1], float(left)])
            out.append([[0, right], flood_left])
        if right:
            out.append([[left + 1, right - 1], float(right)])
            out.append([[left, 0], flood_right])
        return out

    return Graph(callback=cb)


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
