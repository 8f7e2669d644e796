"""The site frequency spectrum of the block-counting coalescent: expectations and probabilities.

Expected number of mutations in class i (carried by i of n samples) is θ/i; the discrete model
of `Graph.discretize` gives the full distribution of each class's count.
"""

import numpy as np

from phasic import Graph

n, theta_mut = 8, 2.0


def block_counting(state):
    if not state.size:
        start = np.zeros(n, dtype=int)
        start[0] = n
        return [[start, 1.0]]
    out = []
    nz = np.flatnonzero(state)
    for a in nz:
        for b in nz[nz >= a]:
            rate = state[a] * (state[a] - 1) / 2 if a == b else state[a] * state[b]
            if rate > 0:
                new = state.copy()
                new[a] -= 1
                new[b] -= 1
                new[a + b + 1] += 1
                out.append([new, float(rate)])
    return out


g = Graph(callback=block_counting)
branches = g.states()[:, : n - 1].astype(float)  # lineages subtending i + 1 samples
branches[0] = 0
print(f"block-counting coalescent, n = {n}: {g.vertices_length()} states")
expected = g.expectation(rewards=branches * theta_mut / 2)
print("E[SFS]      ", np.round(expected, 4))
print("theory θ/i  ", np.round(theta_mut / np.arange(1, n), 4))

events, rewards = g.discretize(branches * theta_mut / 2)
for i in range(3):
    counts = events.reward_transform_discrete(rewards[:, i])
    p = counts.pmf_discrete(np.arange(6))
    print(f"P(ξ_{i + 1} = 0..5) =", np.round(p, 4), f" mean {counts.expectation_discrete():.4f}")
