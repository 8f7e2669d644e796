"""Fixed costs of small models: an eager expectation at one θ, and the first call of a JAX
function (build, trace, compile, run), each as a ratio to a named reference.

    .venv/bin/python bench/bench_fixed_costs.py

* eager ``expectation(theta=[1.0])`` of the 8-sample Kingman coalescent (the seed's model),
  against ``numpy.linalg.solve`` of the same 8 x 8 system with α · x (the floor of any
  Python call that solves it);
* the first ``Graph.pmf_from_graph(kingman(n))(θ, t)`` of a model not seen before in the
  process, against XLA's compile and run of ``jax.jit(lambda x: x + 1)`` on a new shape (the
  compile floor of any JAX function), best of 3 models each.
"""

from __future__ import annotations

import time

import numpy as np
from _timing import best_time


def main() -> None:
    import jax.numpy as jnp

    import jax

    jax.config.update("jax_enable_x64", True)
    from phasic import Graph, models

    g = models.kingman(8)
    a, S, _, _ = g.as_matrices(theta=[1.0])
    ones = np.ones(len(a))
    eager = best_time(lambda: g.expectation(theta=[1.0]), min_time=1.0, max_reps=100_000)
    dense = best_time(lambda: a @ np.linalg.solve(-S, ones), min_time=1.0, max_reps=100_000)
    print(
        f"eager expectation, kingman(8): {eager * 1e6:.2f} µs; numpy solve {dense * 1e6:.2f} µs; "
        f"ratio {eager / dense:.2f}"
    )

    jnp.zeros(1).block_until_ready()
    first, floor = [], []
    for n in (9, 10, 11):
        t0 = time.perf_counter()
        pdf = Graph.pmf_from_graph(models.kingman(n))
        pdf(jnp.array([1.0]), jnp.array([0.5, 1.0])).block_until_ready()
        first.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        jax.jit(lambda x: x + 1)(jnp.ones(n + 100)).block_until_ready()
        floor.append(time.perf_counter() - t0)
    print(
        f"first JAX call, kingman(9..11): {min(first) * 1e3:.0f} ms; jit(x + 1) first call "
        f"{min(floor) * 1e3:.0f} ms; ratio {min(first) / min(floor):.1f}"
    )


if __name__ == "__main__":
    main()
