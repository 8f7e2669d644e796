"""Densities by uniformization: ns/edge per step (one θ and per θ in a batch), the fixed overhead of
one jitted call, value+gradient / value, and speed-ups over scipy's expm and expm_multiply.

    .venv/bin/python bench/bench_distributions.py [--sizes 20 30 40] [--sweep-only]

Also: the cost of 100 pdf points as the horizon t_max doubles (block counting n = 30, against
expm_multiply on the same points), θ batches (100 θ against one θ, eager and through vmap),
peak memory at large θ · t (against the interpreter's own peak), and long-horizon accuracy
against 50-digit mpmath (relative error over the documented bound 1e-12 + 1e-16 · λt).

The step count is estimated as K = λ t_max (the Poisson mode of the last time point), so ns/edge/step
is an upper bound of the true per-step cost.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.linalg as sl  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402
from _timing import best_time  # noqa: E402

from phasic import Graph  # noqa: E402
from phasic.graph import _native, _series  # noqa: E402
from phasic.models import block_counting, kingman  # noqa: E402
from phasic.models import two_island_migration as two_island  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from reference_models import two_parameter_block_counting  # noqa: E402


def bench(name, g, theta, times, dense_ok):
    ga = g.compile()
    E = ga.n_edges
    th = np.asarray(theta, float)[None, :]
    w = ga.weights(th)[0]
    lam = np.add.reduceat(w, ga.indptr[:-1]).max()
    K = lam * times.max()
    alpha, _ = _native.initial_distribution(ga, th)
    t1 = best_time(lambda: _series.series(ga, th, alpha, times, discrete=False, kind="density"))
    row = {"model": name, "edges": E, "steps": K, "pdf100_ms": t1 * 1e3}
    row["ns_edge_step"] = t1 / (E * K) * 1e9
    B = 8
    thB = th * np.linspace(0.9, 1.1, B)[:, None] ** (th.shape[1] > 0)
    aB, _ = _native.initial_distribution(ga, thB)
    tB = best_time(lambda: _series.series(ga, thB, aB, times, discrete=False, kind="density"))
    lamB = np.add.reduceat(ga.weights(thB).max(axis=0), ga.indptr[:-1]).max()
    row["ns_edge_step_theta8"] = tB / (E * lamB * times.max() * B) * 1e9
    # value + gradient as JAX computes it (one native sweep with forward tangents)
    model = Graph.pmf_from_graph(g)
    jt, jth = jnp.asarray(times), jnp.asarray(theta, dtype=float)
    val = jax.jit(model)
    vg = jax.jit(jax.value_and_grad(lambda x: jnp.sum(model(x, jt))))
    tv = best_time(lambda: val(jth, jt).block_until_ready())
    tvg = best_time(lambda: vg(jth)[1].block_until_ready())
    row["grad_over_value"] = tvg / tv
    if dense_ok:
        a, S, *_ = g.as_matrices(theta=theta)
        e = -S.sum(axis=1)
        t_expm = best_time(
            lambda: [a @ sl.expm(S * t) @ e for t in times], min_time=0.1, max_reps=2
        )
        row["vs_expm"] = t_expm / t1
    else:  # the dense matrix alone would not fit (n = 40: 37,337^2 doubles = 11 GB)
        row["vs_expm"] = float("nan")
    Ssp = sparse_S(ga, th)
    a = alpha[0]
    t_em = best_time(
        lambda: spla.expm_multiply(Ssp, a, start=times[0], stop=times[-1], num=times.size),
        min_time=0.1,
        max_reps=3,
    )
    row["vs_expm_multiply"] = t_em / t1
    return row


def jit_overhead():
    g = Graph(
        callback=lambda s: (
            [[[2], 1.0, [1.0]]] if not s.size else ([[[s[0] - 1], 0.0, [1.0]]] if s[0] > 1 else [])
        ),
        parameterized=True,
    )
    model = jax.jit(Graph.pmf_from_graph(g))
    th, t = jnp.array([1.0]), jnp.array([0.5])
    model(th, t).block_until_ready()
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        model(th, t).block_until_ready()
    return (time.perf_counter() - t0) / n * 1e6


def sparse_S(ga, th):
    """S^T in compiled vertex order, straight from the edge list (never dense)."""
    w = ga.weights(th)[0]
    n, src, dst = ga.n_transient, ga.edge_sources(), ga.indices
    inner = dst < n
    diag = -np.bincount(src, weights=np.where(dst == src, 0.0, w), minlength=n)
    keep = inner & (dst != src)
    return sp.csr_matrix(
        (np.r_[w[keep], diag], (np.r_[dst[keep], np.arange(n)], np.r_[src[keep], np.arange(n)])),
        shape=(n, n),
    )


def horizon_sweep(n: int = 30):
    """100 pdf points on [0.08, t_max]: eager g.pdf against expm_multiply, t_max = 2 .. 16."""
    g = block_counting(n)
    ga = g.compile()
    th = np.array([[1.0]])
    alpha, _ = _native.initial_distribution(ga, th)
    Ssp = sparse_S(ga, th)
    print(f"\nhorizon sweep, block counting n={n}, 100 points on [0.08, t_max], eager g.pdf:")
    print("t_max | pdf_ms | ratio to t_max=2 | expm_multiply_ms (survival vector) | speed-up")
    base = None
    for tmax in (2, 4, 8, 16):
        t = np.linspace(0.08, tmax, 100)
        tp = best_time(lambda t=t: g.pdf(t, theta=[1.0]), min_time=0.2, max_reps=5)
        base = base or tp
        te = best_time(
            lambda t=t: spla.expm_multiply(Ssp, alpha[0], start=t[0], stop=t[-1], num=t.size),
            min_time=0.0,
            max_reps=1,
        )
        print(f"{tmax} | {tp * 1e3:.1f} | {tp / base:.2f} | {te * 1e3:.0f} | {te / tp:.0f}")


def theta_batches():
    """100 θ against one θ: eager pdf and jit(vmap(model)), 40 time points. The first two models'
    rates are θ times constants (one series on the clock), the third's are not (two parameters,
    rows stepped eight at once), the fourth is cyclic (rows swept one by one)."""
    print("\nθ batches (40 time points on [0.1, 4]): time of 100 θ / time of one θ")
    print(
        "model | eager one θ µs | eager 100 θ / one | vmap one θ µs | vmap 100 θ / one"
        " | value+grad one θ µs | vmap value+grad 100 θ / one"
    )
    models = (
        ("kingman n=8", kingman(8), [1.0]),
        ("block counting n=10", block_counting(10), [1.0]),
        ("two-parameter block counting n=10", two_parameter_block_counting(10), [1.0, 0.8]),
        ("two-island n=10 (cyclic)", two_island(10), [1.0, 0.8, 0.5]),
    )
    for name, g, base in models:
        t = np.linspace(0.1, 4, 40)
        th1 = np.asarray(base)
        thB = np.linspace(0.5, 2.0, 100)[:, None] * th1[None, :]
        e1 = best_time(lambda g=g, t=t, th=th1: g.pdf(t, theta=th))
        eB = best_time(lambda g=g, t=t, th=thB: g.pdf(t, theta=th))
        model = Graph.pmf_from_graph(g)
        f = jax.jit(model)
        fv = jax.jit(jax.vmap(model, in_axes=(0, None)))
        jt = jnp.asarray(t)
        j1t, jBt = jnp.asarray(th1), jnp.asarray(thB)
        v1 = best_time(lambda f=f, jt=jt, th=j1t: f(th, jt).block_until_ready())
        vB = best_time(lambda fv=fv, jt=jt, th=jBt: fv(th, jt).block_until_ready())
        # what SVGD asks for: the log-likelihood of the 40 points and its gradient, per particle
        log_model = Graph.pmf_from_graph(g, log=True)

        def loglik(th, log_model=log_model, jt=jt):
            return jnp.sum(log_model(th, jt))

        gv = jax.jit(jax.value_and_grad(loglik))
        gvB = jax.jit(jax.vmap(jax.value_and_grad(loglik)))
        g1 = best_time(lambda gv=gv, th=j1t: jax.block_until_ready(gv(th)))
        gB = best_time(lambda gvB=gvB, th=jBt: jax.block_until_ready(gvB(th)))
        print(
            f"{name} | {e1 * 1e6:.0f} | {eB / e1:.1f} | {v1 * 1e6:.0f} | {vB / v1:.1f}"
            f" | {g1 * 1e6:.0f} | {gB / g1:.1f}"
        )


def memory_growth():
    """Peak RSS added by one pdf call at 200 times as θ (hence λ · t) grows, in a fresh process."""
    import subprocess
    import sys

    print("\nmemory: 200 pdf points on [0.5, 1], kingman n=4, peak RSS added (MB)")
    print("θ | steps (λ t_max) | added MB")
    for log_theta in (6, 10, 14):
        code = (
            "import numpy as np; from phasic.models import kingman\n"
            "def hwm(): return int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])\n"
            "g = kingman(4); g.pdf([0.1], theta=[1.0]); b = hwm()\n"
            f"g.pdf(np.linspace(0.5, 1.0, 200), theta=[np.exp({log_theta})])\n"
            "print((hwm() - b) / 1024)\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        steps = 6 * np.exp(log_theta)
        print(f"e^{log_theta} | {steps:.2g} | {float(out.stdout.strip()):.1f}")


def long_horizon_accuracy():
    """Fast cycling (rate 1000) with a slow exit: relative error of survival and pdf against
    50-digit mpmath, as a fraction of the documented bound 1e-12 + 1e-16 · λt."""
    import mpmath as mp

    mp.mp.dps = 50
    S = np.array([[-1000.0, 1000.0], [1000.0, -1001.0]])
    g = Graph.from_matrices([1.0, 0.0], S, states=[[1], [2]])
    t = np.array([0.001, 1.0, 10.0, 100.0, 300.0])
    surv, pdf = g.survival(t), g.pdf(t)
    print("\nlong horizons (λ = 1001): relative error vs mpmath, and its ratio to the bound")
    print("λt | survival rel. error | pdf rel. error | worst / bound")
    for x, s_, f_ in zip(t, surv, pdf, strict=True):
        E = mp.expm(mp.matrix(S.tolist()) * mp.mpf(x))
        rs = abs(float((s_ - (E[0, 0] + E[0, 1])) / (E[0, 0] + E[0, 1])))
        rf = abs(float((f_ - E[0, 1]) / E[0, 1]))
        bound = 1e-12 + 1e-16 * 1001 * x
        print(f"{1001 * x:.3g} | {rs:.1e} | {rf:.1e} | {max(rs, rf) / bound:.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="*", default=[20, 30, 40])
    ap.add_argument("--sweep-only", action="store_true", help="only the horizon sweep and batches")
    args = ap.parse_args()
    theta_batches()
    horizon_sweep()
    memory_growth()
    long_horizon_accuracy()
    if args.sweep_only:
        return
    print(f"fixed overhead of one jitted call on a 2-state graph: {jit_overhead():.1f} µs")
    rows = []
    for n in args.sizes:
        times = np.linspace(0.01, 2.0 * (1 - 1 / n) * 2, 100)
        rows.append(bench(f"block-counting n={n}", block_counting(n), [1.0], times, n <= 20))
    rows.append(
        bench(
            "two-island n=30 (cyclic)",
            two_island(30),
            [1.0, 0.8, 0.5],
            np.linspace(0.01, 6, 100),
            True,
        )
    )
    hdr = [
        "model",
        "edges",
        "steps",
        "pdf100_ms",
        "ns_edge_step",
        "ns_edge_step_theta8",
        "grad_over_value",
        "vs_expm",
        "vs_expm_multiply",
    ]
    print(" | ".join(hdr))
    for r in rows:
        print(" | ".join(f"{r[h]:.3g}" if isinstance(r[h], float) else str(r[h]) for h in hdr))


if __name__ == "__main__":
    main()
