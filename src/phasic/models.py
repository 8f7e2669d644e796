"""Ready-made models from population genetics and the phase-type literature, built from rules.

Each function returns a `Graph`. Every model has its rules twice, meant to be read as examples:
a per-state callback (``vectorized=False``; one state in, a list of transitions out) and numpy
rules over a whole frontier of states (the default, ``Graph(callback=rules, vectorized=True)``),
which build large state spaces many times faster. Both give the same graph, index for index.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from .graph import Graph, Transitions

__all__ = [
    "block_counting",
    "isolation_migration",
    "joint_sfs_rewards",
    "kingman",
    "rabbits",
    "sfs_rewards",
    "two_island_migration",
]


def _build(
    rules: tuple[Callable[..., Any], Callable[..., Any]], vectorized: bool, **kw: Any
) -> Graph:
    per_state, frontier = rules
    if vectorized:
        return Graph(callback=frontier, vectorized=True, **kw)
    return Graph(callback=per_state, **kw)


def _start(states: np.ndarray) -> bool:
    return states.shape[1] == 0


# ------------------------------------------------------------------------------------ kingman
def kingman(n: int, vectorized: bool = True) -> Graph:
    """Kingman coalescent of ``n`` samples: state = lineages, rate k(k-1)/2 · θ (p = 1)."""
    return _build(_kingman_rules(n), vectorized, parameterized=True)


def _kingman_rules(n: int) -> tuple[Callable[..., Any], Callable[..., Any]]:
    def cb(state):
        if not state.size:
            return [[[n], 1.0, [1.0]]]
        k = state[0]
        if k > 1:
            return [[[k - 1], 0.0, [k * (k - 1) / 2]]]
        return []

    def rules(states):
        if _start(states):
            return [[[[n]], [1.0], [[1.0]]]]
        k = states[:, 0]
        return [[states - 1, 0.0, (k * (k - 1) / 2)[:, None]]]

    return cb, rules


# ----------------------------------------------------------------------------- block counting
def block_counting(n: int, vectorized: bool = True) -> Graph:
    """Block-counting coalescent: ``state[i]`` = lineages subtending i + 1 of the ``n`` samples;
    every coalescence rate is multiplied by θ (p = 1)."""
    return _build(_block_counting_rules(n), vectorized, parameterized=True)


def _block_counting_rules(n: int) -> tuple[Callable[..., Any], Callable[..., Any]]:
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

    def rules(states):
        if _start(states):
            s = np.zeros((1, n), dtype=np.int64)
            s[0, 0] = n
            return [[s, [1.0], [[1.0]]]]
        # One kind per pair (x <= y) of the *occupied* block sizes of a state (at most ~sqrt(2n)
        # of them), listing only the states that have a y-th occupied size.
        occupied = states > 0
        d = occupied.sum(axis=1)
        pos = np.argsort(~occupied, axis=1, kind="stable")[:, : int(d.max())]
        out = []
        for x, y in itertools.combinations_with_replacement(range(int(d.max())), 2):
            rows = np.flatnonzero(d > y)
            a, b = pos[rows, x], pos[rows, y]
            ca, cb_ = states[rows, a], states[rows, b]
            rate = ca * (ca - 1) / 2 if x == y else ca * cb_
            rows, a, b, rate = rows[rate > 0], a[rate > 0], b[rate > 0], rate[rate > 0]
            nxt = states[rows]
            r = np.arange(rows.size)
            nxt[r, a] -= 1
            nxt[r, b] -= 1
            nxt[r, a + b + 1] += 1
            out.append(Transitions(rows, nxt, 0.0, rate[:, None]))
        return out

    return cb, rules


def sfs_rewards(graph: Graph, n: int) -> np.ndarray:
    """Reward matrix (vertices, n - 1) of a `block_counting` graph: column i counts the branches
    subtending i + 1 samples, so expectations are the site frequency spectrum (2/i at θ = 1)."""
    r = graph.states()[:, : n - 1].astype(float)
    r[0] = 0
    return r


# ------------------------------------------------------------------------- two-island model
def two_island_migration(n: int, vectorized: bool = True) -> Graph:
    """Structured coalescent of two islands, all ``n`` samples in island 1.

    State (a, b): lineages in islands 1 and 2; θ = (coalescence rate 1, coalescence rate 2,
    migration rate per lineage). Migration makes it cyclic.
    """
    return _build(_two_island_rules(n), vectorized, parameterized=True)


def _two_island_rules(n: int) -> tuple[Callable[..., Any], Callable[..., Any]]:
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

    def rules(states):
        if _start(states):
            return [[[[n, 0]], [1.0], [[0.0, 0.0, 0.0]]]]
        a, b = states[:, 0].astype(float), states[:, 1].astype(float)
        live = (a + b > 1).astype(float)
        z = np.zeros_like(a)
        step = np.array
        return [
            [states - step([1, 0]), 0.0, np.stack([a * (a - 1) / 2, z, z], axis=1)],
            [states - step([0, 1]), 0.0, np.stack([z, b * (b - 1) / 2, z], axis=1)],
            [states + step([-1, 1]), 0.0, np.stack([z, z, a * live], axis=1)],
            [states + step([1, -1]), 0.0, np.stack([z, z, b * live], axis=1)],
        ]

    return cb, rules


# --------------------------------------------------------------------- isolation with migration
def isolation_migration(n1: int, n2: int, vectorized: bool = True) -> Graph:
    """Block-counting coalescent of two populations with migration, ``n1`` + ``n2`` samples.

    A lineage's type is (i, j): it subtends i of the n1 samples of population 1 and j of the
    n2 of population 2; the state counts lineages by type and location (`joint_sfs_rewards`
    reads the joint SFS off it). θ = (c1, c2, cx, m12, m21), all rates per unit time:
    coalescence of a pair within location 1, within location 2, and across the two; migration
    of one lineage 1 -> 2 and 2 -> 1. Isolation with migration is two epochs: (1/N1, 1/N2, 0,
    m12, m21) until the split, then (1/Na, 1/Na, 1/Na, 0, 0), when every pair coalesces at the
    ancestral rate wherever its lineages sit (a cross pair merges into location 1).
    """
    return _build(_isolation_migration_rules(n1, n2), vectorized, parameterized=True)


def _isolation_migration_rules(n1: int, n2: int) -> tuple[Callable[..., Any], Callable[..., Any]]:
    # Slot of type (i, j) at location loc: loc * width + i * (n2 + 1) + j. The slot index is
    # linear in (i, j), so merging two lineages adds their slots within a location.
    width = (n1 + 1) * (n2 + 1)

    def first() -> np.ndarray:
        s = np.zeros(2 * width, dtype=np.int64)
        s[1 * (n2 + 1)] += n1
        s[width + 1] += n2
        return s

    def cb(state):
        if not state.size:
            return [[first(), 1.0, [0.0] * 5]]
        st = state.tolist()
        if sum(st) <= 1:
            return []
        live = [k for k in range(2 * width) if st[k]]
        out = []
        for x, a in enumerate(live):
            for b in live[x:]:
                la, lb = a // width, b // width
                pairs = st[a] * (st[a] - 1) / 2 if a == b else st[a] * st[b]
                if pairs <= 0:
                    continue
                coef = [0.0] * 5
                coef[2 if la != lb else la] = pairs
                new = list(st)
                new[a] -= 1
                new[b] -= 1
                new[(0 if la != lb else la) * width + a % width + b % width] += 1
                out.append([new, 0.0, coef])
            new = list(st)
            new[a] -= 1
            new[(a + width) % (2 * width)] += 1
            coef = [0.0] * 5
            coef[3 + a // width] = float(st[a])
            out.append([new, 0.0, coef])
        return out

    def rules(states):
        if _start(states):
            return [[first()[None, :], [1.0], [[0.0] * 5]]]
        occupied = states > 0
        d = occupied.sum(axis=1)
        alive = states.sum(axis=1) > 1
        dmax = int(d.max())
        pos = np.argsort(~occupied, axis=1, kind="stable")[:, :dmax]
        out = []
        for x in range(dmax):  # the per-state order: pairs (x, y >= x), then x migrates
            for y in range(x, dmax):
                rows = np.flatnonzero(d > y)
                a, b = pos[rows, x], pos[rows, y]
                ca, cb_ = states[rows, a], states[rows, b]
                pairs = ca * (ca - 1) / 2 if x == y else ca * cb_
                rows, a, b, pairs = rows[pairs > 0], a[pairs > 0], b[pairs > 0], pairs[pairs > 0]
                la, lb = a // width, b // width
                cross = la != lb
                coef = np.zeros((rows.size, 5))
                coef[np.arange(rows.size), np.where(cross, 2, la)] = pairs
                nxt = states[rows]
                r = np.arange(rows.size)
                nxt[r, a] -= 1
                nxt[r, b] -= 1
                nxt[r, np.where(cross, 0, la) * width + a % width + b % width] += 1
                out.append(Transitions(rows, nxt, 0.0, coef))
            rows = np.flatnonzero((d > x) & alive)
            a = pos[rows, x]
            r = np.arange(rows.size)
            coef = np.zeros((rows.size, 5))
            coef[r, 3 + a // width] = states[rows, a]
            nxt = states[rows]
            nxt[r, a] -= 1
            nxt[r, (a + width) % (2 * width)] += 1
            out.append(Transitions(rows, nxt, 0.0, coef))
        return out

    return cb, rules


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


# ------------------------------------------------------------------------------------ rabbits
def rabbits(
    n: int, flood_left: float = 2.0, flood_right: float = 4.0, vectorized: bool = True
) -> Graph:
    """The rabbit model of Røikjer, Hobolth & Munch (2022): ``n`` rabbits hop between two islands
    at rate 1 each; a flood kills every rabbit on an island (rates ``flood_left``,
    ``flood_right``). Absorbed when no rabbit is left."""
    return _build(_rabbits_rules(n, flood_left, flood_right), vectorized)


def _rabbits_rules(
    n: int, flood_left: float, flood_right: float
) -> tuple[Callable[..., Any], Callable[..., Any]]:
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

    def rules(states):
        if _start(states):
            return [[[[n, 0]], [1.0]]]
        left, right = states[:, 0], states[:, 1]
        zero = np.zeros_like(left)
        return [
            [states + np.array([-1, 1]), left.astype(float)],
            [np.stack([zero, right], axis=1), flood_left * (left > 0)],
            [states + np.array([1, -1]), right.astype(float)],
            [np.stack([left, zero], axis=1), flood_right * (right > 0)],
        ]

    return cb, rules


_RULES: dict[str, Callable[..., tuple[Callable[..., Any], Callable[..., Any]]]] = {
    "kingman": _kingman_rules,
    "block_counting": _block_counting_rules,
    "two_island_migration": _two_island_rules,
    "isolation_migration": _isolation_migration_rules,
    "rabbits": _rabbits_rules,
}


def _rules(model: str, *args: Any) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """(per-state callback, vectorized rules) of a model by name: benchmarks and tests compare
    the two builders on them."""
    return _RULES[model](*args)
