"""Two populations exchanging migrants: expected joint site frequency spectrum.

Two samples from each population. A lineage is (population, descendants in sample 1, descendants
in sample 2); the joint SFS entry (i, j) is the expected total length of branches ancestral to
i samples of population 1 and j of population 2, times θ/2. θ = (coalescence rate in pop 1,
coalescence rate in pop 2, migration rate per lineage): a cyclic model.
"""

import itertools

import numpy as np

from phasic import Graph

n1, n2 = 2, 2
types = [(p, i, j) for p in (0, 1) for i in range(n1 + 1) for j in range(n2 + 1) if i + j > 0]
index = {t: k for k, t in enumerate(types)}


def callback(state):
    if not state.size:
        s = np.zeros(len(types), dtype=int)
        s[index[(0, 1, 0)]] = n1
        s[index[(1, 0, 1)]] = n2
        return [[s, 1.0, [0.0, 0.0, 0.0]]]
    if state.sum() <= 1:
        return []
    out = []
    for a, b in itertools.combinations_with_replacement(np.flatnonzero(state), 2):
        (pa, ia, ja), (pb, ib, jb) = types[a], types[b]
        if pa != pb:
            continue
        pairs = state[a] * (state[a] - 1) / 2 if a == b else state[a] * state[b]
        if pairs <= 0:
            continue
        new = state.copy()
        new[a] -= 1
        new[b] -= 1
        new[index[(pa, ia + ib, ja + jb)]] += 1
        coef = [0.0, 0.0, 0.0]
        coef[pa] = float(pairs)
        out.append([new, 0.0, coef])
    for a in np.flatnonzero(state):
        p, i, j = types[a]
        new = state.copy()
        new[a] -= 1
        new[index[(1 - p, i, j)]] += 1
        out.append([new, 0.0, [0.0, 0.0, float(state[a])]])
    return out


g = Graph(callback=callback, parameterized=True)
theta = np.array([1.0, 0.5, 0.2])
print(f"{g.vertices_length()} states, acyclic: {g.is_acyclic()}")
classes = [(i, j) for i in range(n1 + 1) for j in range(n2 + 1) if 0 < i + j < n1 + n2]
st = g.states()
R = np.zeros((g.vertices_length(), len(classes)))
for c, (i, j) in enumerate(classes):
    for p in (0, 1):
        R[:, c] += st[:, index[(p, i, j)]]
R[0] = 0
jsfs = g.expectation(rewards=R, theta=theta)
table = np.zeros((n1 + 1, n2 + 1))
for (i, j), v in zip(classes, jsfs, strict=True):
    table[i, j] = v
print("expected joint SFS (branch length; rows: pop-1 count, columns: pop-2 count)")
print(np.round(table, 4))
print("E[T_MRCA] =", round(float(g.expectation(theta=theta)), 4))
