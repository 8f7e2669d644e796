"""Isolation with migration: two populations that split T time units ago from one ancestral
population, exchanging migrants since. Expected joint site frequency spectrum.

Two samples from each population. A lineage is (population, descendants in sample 1,
descendants in sample 2). θ = (coalescence rate in pop 1, in pop 2, migration rate per lineage,
coalescence rate of pairs across populations). Before the split (looking back past T) the
ancestral population is panmictic: θ = (1, 1, 0, 1), every pair coalesces at rate 1 whatever its
label. Expected branch lengths accumulate over [0, T] under the IM parameters and after T from
the state distribution at T:  E[Y] = ∫_0^T π(t) r dt + π(T) (-S_anc)^{-1} r.
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
        return [[s, 1.0, [0.0, 0.0, 0.0, 0.0]]]
    if state.sum() <= 1:
        return []
    out = []
    for a, b in itertools.combinations_with_replacement(np.flatnonzero(state), 2):
        (pa, ia, ja), (pb, ib, jb) = types[a], types[b]
        pairs = state[a] * (state[a] - 1) / 2 if a == b else state[a] * state[b]
        if pairs <= 0:
            continue
        new = state.copy()
        new[a] -= 1
        new[b] -= 1
        new[index[(pa, ia + ib, ja + jb)]] += 1  # across populations: keep the first label
        coef = [0.0, 0.0, 0.0, 0.0]
        coef[pa if pa == pb else 3] = float(pairs)
        out.append([new, 0.0, coef])
    for a in np.flatnonzero(state):
        p, i, j = types[a]
        new = state.copy()
        new[a] -= 1
        new[index[(1 - p, i, j)]] += 1
        out.append([new, 0.0, [0.0, 0.0, float(state[a]), 0.0]])
    return out


g = Graph(callback=callback, parameterized=True)
classes = [(i, j) for i in range(n1 + 1) for j in range(n2 + 1) if 0 < i + j < n1 + n2]
st = g.states()
R = np.zeros((g.vertices_length(), len(classes)))
for c, (i, j) in enumerate(classes):
    for p in (0, 1):
        R[:, c] += st[:, index[(p, i, j)]]
R[0] = 0
im = np.array([1.0, 0.5, 0.2, 0.0])  # after the split: pop 2 half as large, migration 0.2
ancestral = np.array([1.0, 1.0, 0.0, 1.0])


def joint_sfs(split_time):
    before = g.accumulated_visiting_time(split_time, theta=im) @ R  # ∫_0^T π(t) r dt
    state = g.stop_probability(split_time, theta=im)  # π(T)
    after = state @ g.expected_waiting_time(R, theta=ancestral)
    table = np.zeros((n1 + 1, n2 + 1))
    for (i, j), v in zip(classes, before + after, strict=True):
        table[i, j] = v
    return table


print(f"{g.vertices_length()} states, acyclic: {g.is_acyclic()}")
for T in (0.0, 0.5, 2.0):
    table = joint_sfs(T)
    print(f"split time T = {T}: expected joint SFS (rows: pop-1 count, columns: pop-2 count)")
    print(np.round(table, 4))
    print(f"  total branch length {table.sum():.4f}")
print(
    "T = 0 is one panmictic population: total length 2(1 + 1/2 + 1/3) =",
    round(2 * (1 + 1 / 2 + 1 / 3), 4),
)
