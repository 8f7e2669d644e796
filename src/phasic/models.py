"""Ready-made models from population genetics and the phase-type literature, built from rules.

Each function returns a `Graph`; the callbacks are short and meant to be read as examples.
"""

from __future__ import annotations

import itertools

import numpy as np

from .graph import Graph

__all__ = ["block_counting", "kingman", "rabbits", "sfs_rewards", "two_island_migration"]


def kingman(n: int) -> Graph:
    """Kingman coalescent of ``n`` samples: state = lineages, rate k(k-1)/2 · θ (p = 1)."""

    def cb(state, nr_samples=n):
        if not state.size:
            return [[[nr_samples], 1.0, [1.0]]]
        k = state[0]
        if k > 1:
            return [[[k - 1], 0.0, [k * (k - 1) / 2]]]
        return []

    return Graph(callback=cb, parameterized=True, nr_samples=n)


def block_counting(n: int) -> Graph:
    """Block-counting coalescent: ``state[i]`` = lineages subtending i + 1 of the ``n`` samples;
    every coalescence rate is multiplied by θ (p = 1)."""

    def cb(state):
        if not state.size:
            s = np.zeros(n, dtype=np.int64)
            s[0] = n
            return [[s, 1.0, [1.0]]]
        out = []
        st = state.tolist()
        for a, b in itertools.combinations_with_replacement(np.flatnonzero(state).tolist(), 2):
            rate = st[a] * (st[a] - 1) / 2 if a == b else st[a] * st[b]
            if rate <= 0:
                continue
            new = list(st)
            new[a] -= 1
            new[b] -= 1
            new[a + b + 1] += 1
            out.append([new, 0.0, [rate]])
        return out

    return Graph(callback=cb, parameterized=True)


def sfs_rewards(graph: Graph, n: int) -> np.ndarray:
    """Reward matrix (vertices, n - 1) of a `block_counting` graph: column i counts the branches
    subtending i + 1 samples, so expectations are the site frequency spectrum (2/i at θ = 1)."""
    r = graph.states()[:, : n - 1].astype(float)
    r[0] = 0
    return r


def two_island_migration(n: int) -> Graph:
    """Structured coalescent of two islands, all ``n`` samples in island 1.

    State (a, b): lineages in islands 1 and 2; θ = (coalescence rate 1, coalescence rate 2,
    migration rate per lineage). Migration makes it cyclic.
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
    """The rabbit model of Røikjer, Hobolth & Munch (2022): ``n`` rabbits hop between two islands
    at rate 1 each; a flood kills every rabbit on an island (rates ``flood_left``,
    ``flood_right``). Absorbed when no rabbit is left."""

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
