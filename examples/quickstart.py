"""Build the Kingman coalescent from rules and print its exact moments and site frequency spectrum.

Run with `make run`. The 8-sample coalescent of the seed walk-through (cell 4) has 9 states.
"""

import numpy as np

from phasic import Graph


def coalescent_callback(state, nr_samples=8):
    if not state.size:
        return [[[nr_samples], 1.0, [1.0]]]
    n = state[0]
    if n > 1:
        return [[[n - 1], 0.0, [n * (n - 1) / 2]]]
    return []


def block_counting_callback(state, n=8):
    """state[i] = number of lineages that subtend i + 1 of the n samples."""
    if not state.size:
        start = np.zeros(n, dtype=int)
        start[0] = n
        return [[start, 1.0, [1.0]]]
    transitions = []
    for i in np.flatnonzero(state):
        for j in np.flatnonzero(state):
            if j < i or (i == j and state[i] < 2):
                continue
            rate = state[i] * (state[i] - 1) / 2 if i == j else state[i] * state[j]
            new = state.copy()
            new[i] -= 1
            new[j] -= 1
            new[i + j + 1] += 1
            transitions.append([new, 0.0, [rate]])
    return transitions


graph = Graph(callback=coalescent_callback, parameterized=True, nr_samples=8)
theta = np.array([1.2])
print(f"Kingman coalescent, 8 samples: {graph.vertices_length()} states, θ = {theta[0]}")
mean, second, third = graph.moments(3, theta=theta)
print(f"  E[T_MRCA] = {mean:.6f}   (closed form 2(1 - 1/n)/θ = {2 * (1 - 1 / 8) / theta[0]:.6f})")
print(f"  Var[T_MRCA] = {graph.variance(theta=theta):.6f}, E[T^3] = {third:.6f}")
grad = graph.moments_gradient(1, theta=theta)
print(
    f"  dE[T]/dθ = {grad.d_theta[0, 0]:.6f}   (exact adjoint; closed form -E[T]/θ = {-mean / 1.2:.6f})"
)

bc = Graph(callback=block_counting_callback, parameterized=True, n=8)
rewards = bc.states()[:, :7].astype(float)
rewards[0] = 0
sfs = bc.expectation(rewards=rewards, theta=[1.0])
print(f"\nBlock-counting coalescent, 8 samples: {bc.vertices_length()} states")
print("  expected SFS branch lengths:", np.array2string(sfs, precision=4))
print("  theory 2/i:                 ", np.array2string(2 / np.arange(1, 8), precision=4))
