"""Models shared by the benchmark scripts."""

from __future__ import annotations

import numpy as np

from phasic import Graph


def block_counting(n: int) -> Graph:
    """Block-counting coalescent of n samples; θ scales every coalescence rate."""

    def cb(state):
        if not state.size:
            s = np.zeros(n, dtype=np.int64)
            s[0] = n
            return [[s, 1.0, [1.0]]]
        out = []
        nz = np.flatnonzero(state).tolist()
        st = state.tolist()
        for ii, i in enumerate(nz):
            for j in nz[ii:]:
                rate = st[i] * (st[i] - 1) / 2 if i == j else st[i] * st[j]
                if rate <= 0:
                    continue
                new = list(st)
                new[i] -= 1
                new[j] -= 1
                new[i + j + 1] += 1
                out.append([new, 0.0, [rate]])
        return out

    return Graph(callback=cb, parameterized=True)


def two_island(n: int) -> Graph:
    """Structured coalescent, θ = (coalescence 1, coalescence 2, migration): cyclic SCCs."""

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
