"""Moment kernels: build time, ns/edge per θ (single and batched), value+gradient cost, and the
speed-up over a dense numpy solve of the same system.

    .venv/bin/python bench/bench_moments.py [--sizes 20 30 40] [--quick]

Prints one table row per model. Timings are the best of repeated runs on this machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _timing import best_time

from phasic.graph import _moments, _native
from phasic.models import block_counting
from phasic.models import two_island_migration as two_island


def bench(name, build, theta1, dense_ok):
    t0 = time.perf_counter()
    g = build()
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ga = g.compile()
    compile_s = time.perf_counter() - t0
    n, E, p = ga.n_transient, ga.n_edges, ga.param_length
    rng = np.random.default_rng(0)
    row = {"model": name, "vertices": n, "edges": E, "build_s": build_s, "compile_s": compile_s}

    th1 = np.asarray(theta1, float)[None, :]
    ones1 = np.ones((n, 1, 1))
    t_kernel = best_time(lambda: _native.solve(ga, th1, ones1))
    row["ns_edge_1"] = t_kernel / E * 1e9
    t_transposed = best_time(lambda: _native.solve(ga, th1, ones1, transpose=True))
    row["transposed_over_plain"] = t_transposed / t_kernel
    t_eager = best_time(lambda: g.expectation(theta=theta1))
    row["eager_us"] = t_eager * 1e6
    for B in (8, 64):
        thB = th1 * rng.uniform(0.5, 1.5, size=(B, p))
        onesB = np.ones((n, B, 1))
        tb = best_time(lambda thB=thB, onesB=onesB: _native.solve(ga, thB, onesB))
        row[f"ns_edge_theta_{B}"] = tb / E / B * 1e9
    r = np.ones((n, 1))
    t_val = best_time(lambda: _moments.raw_moments(ga, th1, 1, r))
    t_grad = best_time(lambda: _moments.moments_gradient(ga, th1, 1, r))
    row["grad_over_value"] = t_grad / t_val
    if dense_ok:
        a, S, *_ = g.as_matrices(theta=theta1)
        t_dense = best_time(lambda: a @ np.linalg.solve(-S, np.ones(n)), min_time=0.5, max_reps=5)
        row["dense_speedup"] = t_dense / t_eager
    else:
        row["dense_speedup"] = float("nan")
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="*", default=[20, 30, 40])
    ap.add_argument("--islands", type=int, default=60, help="lineages in the two-island model")
    args = ap.parse_args()
    rows = []
    for n in args.sizes:
        rows.append(bench(f"block-counting n={n}", lambda n=n: block_counting(n), [1.0], n <= 30))
    rows.append(
        bench(
            f"two-island n={args.islands} (cyclic)",
            lambda: two_island(args.islands),
            [1.0, 0.8, 0.5],
            True,
        )
    )
    cols = [
        ("model", "{:<28}"),
        ("vertices", "{:>8}"),
        ("edges", "{:>8}"),
        ("build_s", "{:>8.2f}"),
        ("compile_s", "{:>9.3f}"),
        ("ns_edge_1", "{:>9.2f}"),
        ("transposed_over_plain", "{:>21.2f}"),
        ("ns_edge_theta_8", "{:>15.2f}"),
        ("ns_edge_theta_64", "{:>16.2f}"),
        ("grad_over_value", "{:>15.2f}"),
        ("eager_us", "{:>9.1f}"),
        ("dense_speedup", "{:>13.1f}"),
    ]
    print(" ".join(f"{c:>{len(f.format(rows[0][c]))}}" for c, f in cols))
    for r in rows:
        print(" ".join(f.format(r[c]) for c, f in cols))
    print(
        "\nns_edge_1: one θ, kernel only; transposed_over_plain: the transposed solve (the"
        "\nadjoint of every gradient) / the plain one; ns_edge_theta_B: per edge per θ in a batch of B;"
        "\ngrad_over_value: E[T] with its θ-gradient / E[T] alone; eager_us: Graph.expectation"
        "\ncall; dense_speedup: numpy dense solve of (-S) x = 1 / Graph.expectation."
    )


if __name__ == "__main__":
    main()
