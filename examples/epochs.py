"""A time-inhomogeneous coalescent: the population size changes at t = 0.5 (a bottleneck in
the past). Piecewise-constant θ over epochs; the state distribution is carried across."""

import numpy as np

from phasic import Graph


def coalescent(state, n=6):
    if not state.size:
        return [[[n], 1.0, [1.0]]]
    k = state[0]
    return [[[k - 1], 0.0, [k * (k - 1) / 2]]] if k > 1 else []


g = Graph(callback=coalescent, parameterized=True)
t = np.linspace(0.05, 3.0, 8)
constant = g.pdf(t, theta=[1.0])
bottleneck = g.pdf(t, theta=[[1.0], [5.0]], epochs=[0.0, 0.5])
print("t           ", np.round(t, 3))
print("pdf, θ = 1  ", np.round(constant, 5))
print("pdf, 5× after 0.5", np.round(bottleneck, 5))
print("P(T_MRCA <= 0.5) =", round(float(g.cdf(0.5, theta=[1.0])), 6), "(same in both)")
print(
    "P(T_MRCA <= 1.0):",
    round(float(g.cdf(1.0, theta=[1.0])), 6),
    "vs",
    round(float(g.cdf(1.0, theta=[[1.0], [5.0]], epochs=[0.0, 0.5])), 6),
)
