"""The rabbit model of Røikjer, Hobolth & Munch (2022): rabbits hop between two islands (rate 1
each) and floods wipe out an island's rabbits (left: rate 2, right: rate 4). How long until all
rabbits are gone, and where do they spend their time?"""

import numpy as np

from phasic import Graph


def rabbits(state, n=3, flood_left=2.0, flood_right=4.0):
    if not state.size:
        return [[[n, 0], 1.0]]
    left, right = state
    if left + right == 0:
        return []
    out = []
    if left:
        out += [[[left - 1, right + 1], float(left)], [[0, right], flood_left]]
    if right:
        out += [[[left + 1, right - 1], float(right)], [[left, 0], flood_right]]
    return out


g = Graph(callback=rabbits)
print(f"{g.vertices_length()} states, cyclic: {not g.is_acyclic()}")
print(f"E[T] = {g.expectation():.6f}, Var[T] = {g.variance():.6f}")
t = np.array([0.1, 0.5, 1.0, 2.0])
print("P(T <= t):", np.round(g.cdf(t), 6))
left = g.states()[:, 0].astype(float)
right = g.states()[:, 1].astype(float)
left[0] = right[0] = 0
print(
    f"expected rabbit-time on the left {g.expectation(left):.4f}, right {g.expectation(right):.4f}"
)
print("simulated mean of 20000 draws:", round(float(g.sample(20000, rng=1).mean()), 4))
