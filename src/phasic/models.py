"""Ready-made models from population genetics and the phase-type literature, built from rules.

Each function returns a `Graph`; the callbacks are short and meant to be read as examples.
"""

from __future__ import annotations

import itertools

import numpy as np

from .graph import Graph

__all__ = [
    "block_counting",
    "isolation_migration",
    "joint_sfs_rewards",
    "kingman",
    "rabbits",
    "sfs_rewards",
    "two_island_migration",
]


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


def isolation_migration(n1: int, n2: int) -> Graph:
    """Block-counting coalescent of two populations with migration, ``n1`` + ``n2`` samples.

    A lineage's type is (i, j): it subtends i of the n1 samples of population 1 and j of the
    n2 of population 2; the state counts lineages by type and location (`joint_sfs_rewards`
    reads the joint SFS off it). θ = (c1, c2, cx, m12, m21), all rates per unit time:
    coalescence of a pair within location 1, within location 2, and across the two; migration
    of one lineage 1 -> 2 and 2 -> 1. Isolation with migration is two epochs: (1/N1, 1/N2, 0,
    m12, m21) until the split, then (1/Na, 1/Na, 1/Na, 0, 0), when every pair coalesces at the
    ancestral rate wherever its lineages sit (a cross pair merges into location 1).
    """
    width = (n1 + 1) * (n2 + 1)

    def slot(i: int, j: int, loc: int) -> int:
        return loc * width + i * (n2 + 1) + j

    def cb(state):
        if not state.size:
            s = np.zeros(2 * width, dtype=np.int64)
            s[slot(1, 0, 0)] += n1
            s[slot(0, 1, 1)] += n2
            return [[s, 1.0, [0.0] * 5]]
        st = state.tolist()
        if sum(st) <= 1:
            return []
        live = [k for k in range(2 * width) if st[k]]
        out = []

        def merged(a: int, b: int, loc: int) -> list[int]:
            new = list(st)
            new[a] -= 1
            new[b] -= 1
            ia, ja = divmod(a % width, n2 + 1)
            ib, jb = divmod(b % width, n2 + 1)
            new[slot(ia + ib, ja + jb, loc)] += 1
            return new

        for x, a in enumerate(live):
            for b in live[x:]:
                la, lb = a // width, b // width
                pairs = st[a] * (st[a] - 1) / 2 if a == b else st[a] * st[b]
                if pairs <= 0:
                    continue
                coef = [0.0] * 5
                coef[2 if la != lb else la] = pairs
                out.append([merged(a, b, 0 if la != lb else la), 0.0, coef])
            new = list(st)
            new[a] -= 1
            new[(a + width) % (2 * width)] += 1
            coef = [0.0] * 5
            coef[3 + a // width] = float(st[a])
            out.append([new, 0.0, coef])
        return out

    return Graph(callback=cb, parameterized=True)


def joint_sfs_rewards(graph: Graph, n1: int, n2: int) -> np.ndarray:
    """Reward matrix (vertices, (n1+1)(n2+1)) of an `isolation_migration` graph: column
    ``i * (n2+1) + j`` counts the lineages subtending i samples of population 1 and j of
    population 2, so expectations reshaped to (n1+1, n2+1) are the joint SFS (the monomorphic
    corners [0, 0] and [n1, n2] are 0)."""
    width = (n1 + 1) * (n2 + 1)
    st = graph.states()
    r = (st[:, :width] + st[:, width : 2 * width]).astype(float)
    r[0] = 0
    r[:, 0] = 0
    r[:, -1] = 0
    return r


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
