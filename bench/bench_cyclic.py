"""Cyclic models: E[T] of the isolation-with-migration model against scipy's SuperLU on the
same matrix in SCC order, and a vmap batch of gradients against a loop.

    .venv/bin/python bench/bench_cyclic.py [--im 5 6 7] [--islands 20]

For IM k + k (block counting in two populations with migration: SCCs of up to a few hundred
states) it prints the first E[T] call (compile: SCCs, band ordering, then the solve), a call at a
new θ, and scipy: ``splu`` of A = -S in the compiled (SCC, reverse Cuthill-McKee) order with
``permc_spec="NATURAL"`` (fill stays inside the diagonal blocks) plus one solve, factor and solve
timed apart; best of repeated runs, interleaved. For the two-island model it times ``jit(vmap(
grad))`` of a 300-point log-density over 32 θ against a Python loop of ``jit(grad)``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from _timing import best_time

from phasic import Graph, models


def dense_a(g: Graph, theta: np.ndarray) -> sp.csc_matrix:
    """A = -S over the transient vertices in compiled order, as scipy CSC."""
    ga = g.compile()
    n = ga.n_transient
    w = ga.weights(theta[None, :])[0]
    src = ga.edge_sources()
    inner = ga.indices < n
    diag = np.bincount(src, weights=w, minlength=n)
    rows = np.concatenate([np.arange(n), src[inner]])
    cols = np.concatenate([np.arange(n), ga.indices[inner]])
    vals = np.concatenate([diag, -w[inner]])
    return sp.csc_matrix((vals, (rows, cols)), shape=(n, n))


def im_row(k: int) -> None:
    th = np.array([1.0, 1.0, 0.0, 0.5, 0.5])
    g = models.isolation_migration(k, k)
    t0 = time.perf_counter()
    e = float(g.expectation(theta=th))
    first = time.perf_counter() - t0
    new = best_time(lambda: g.expectation(theta=th * 1.1), min_time=1.0)
    a = dense_a(g, th * 1.1)
    ones = np.ones(a.shape[0])
    factor = best_time(lambda: spla.splu(a, permc_spec="NATURAL"), min_time=1.0, max_reps=5)
    lu = spla.splu(a, permc_spec="NATURAL")
    solve = best_time(lambda: lu.solve(ones), min_time=0.5)
    ga = g.compile()
    alpha = np.zeros(ga.n_transient)
    np.add.at(alpha, ga.start_indices[ga.start_indices < ga.n_transient], 1.0)
    check = abs(alpha @ lu.solve(ones) / alpha.sum() - float(g.expectation(theta=th * 1.1)))
    print(
        f"IM {k}+{k:<3}{ga.n_transient:>9}{ga.n_edges:>10}{first:>10.3f}{new * 1e3:>11.1f}"
        f"{factor * 1e3:>12.1f}{solve * 1e3:>10.1f}{(factor + solve) / new:>13.1f}"
        f"{new / ga.n_edges * 1e9:>9.1f}{check / e:>10.1e}",
        flush=True,
    )


def vmap_row(n: int) -> None:
    import jax.numpy as jnp

    import jax

    jax.config.update("jax_enable_x64", True)
    g = models.two_island_migration(n)
    t = jnp.linspace(0.1, 4.0, 300)
    pdf = Graph.pmf_from_graph(g)

    def loss(th):
        return jnp.sum(jnp.log(pdf(th, t)))

    one = jax.jit(jax.grad(loss))
    many = jax.jit(jax.vmap(jax.grad(loss)))
    ths = jnp.asarray(np.random.default_rng(0).uniform(0.5, 1.5, size=(32, 3)))
    loop = best_time(lambda: [one(x).block_until_ready() for x in ths], min_time=1.0)
    batch = best_time(lambda: many(ths).block_until_ready(), min_time=1.0)
    print(
        f"two-island n={n}: 32 gradients of a 300-point log-density: loop {loop * 1e3:.1f} ms, "
        f"vmap {batch * 1e3:.1f} ms (vmap / loop {batch / loop:.2f})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--im", type=int, nargs="*", default=[5, 6, 7])
    ap.add_argument("--islands", type=int, default=20)
    a = ap.parse_args()
    print(
        f"{'model':<10}{'states':>9}{'edges':>10}{'first s':>10}{'new θ ms':>11}"
        f"{'splu fac ms':>12}{'solve ms':>10}{'scipy/phasic':>13}{'ns/edge':>9}{'rel diff':>10}"
    )
    for k in a.im:
        im_row(k)
    vmap_row(a.islands)


if __name__ == "__main__":
    main()
