"""SVGD's step loop against blackjax's on cheap targets (issue 12 item 5): the same
log-density, particles, RBF kernel with the median bandwidth and optax Adam step.

    .venv/bin/python bench/bench_svgd_blackjax.py [--iterations 500]

For each (dimension, particles) it times ``fit()`` of phasic's SVGD (a second fit of the same
object: compile excluded, as for blackjax) and blackjax's ``svgd.step`` with the median
heuristic, both in a jitted ``lax.scan`` and in a Python loop of jitted steps, interleaved, best
of 3, and prints ms per iteration and phasic / blackjax; the last column is phasic's first fit
(compile included) per iteration.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=500)
    a = ap.parse_args()
    import jax.numpy as jnp

    import jax

    jax.config.update("jax_enable_x64", True)
    import blackjax
    import optax

    from phasic import SVGD

    T = a.iterations
    print(
        f"{'target':<22}{'particles':>10}{'phasic ms/it':>14}{'bj scan':>10}{'bj loop':>10}"
        f"{'phasic/scan':>13}{'phasic/loop':>13}{'1st fit ms/it':>15}"
    )
    for d, P in [(1, 20), (1, 100), (10, 100), (10, 400)]:
        A = np.random.default_rng(0).normal(size=(d, d))
        prec = jnp.asarray(np.linalg.inv(A @ A.T / d + np.eye(d)))

        def logp(th, prec=prec):
            return -0.5 * th @ prec @ th

        init = np.random.default_rng(1).normal(size=(P, d))

        fit = SVGD(
            None,
            None,
            log_likelihood=logp,
            theta_dim=d,
            n_particles=P,
            n_iterations=T,
            learning_rate=optax.constant_schedule(0.05),  # blackjax's constant Adam step
            theta_init=init,
            verbose=False,
            optimizer="adam",
            kernel="median",  # blackjax's kernel and bandwidth: the same algorithm on both sides
        )
        t0 = time.perf_counter()
        fit.fit(return_history=False)
        first = time.perf_counter() - t0

        def ours(fit=fit):
            t0 = time.perf_counter()
            fit.fit(return_history=False)
            return time.perf_counter() - t0

        svgd = blackjax.svgd(
            jax.grad(logp),
            optax.adam(0.05),
            blackjax.vi.svgd.rbf_kernel,
            blackjax.vi.svgd.update_median_heuristic,
        )
        state0 = svgd.init(jnp.asarray(init))
        step = jax.jit(lambda s, svgd=svgd: svgd.step(blackjax.vi.svgd.update_median_heuristic(s)))

        @jax.jit
        def scan(state, svgd=svgd):
            def body(s, _):
                return svgd.step(blackjax.vi.svgd.update_median_heuristic(s)), None

            return jax.lax.scan(body, state, None, length=T)[0]

        def bj_scan(state0=state0, scan=scan):
            t0 = time.perf_counter()
            jax.block_until_ready(scan(state0).particles)
            return time.perf_counter() - t0

        def bj_loop(state0=state0, step=step):
            s = state0
            t0 = time.perf_counter()
            for _ in range(T):
                s = step(s)
            jax.block_until_ready(s.particles)
            return time.perf_counter() - t0

        bj_scan()
        bj_loop()
        ts = {"ours": [], "scan": [], "loop": []}
        for _ in range(3):
            ts["ours"].append(ours())
            ts["scan"].append(bj_scan())
            ts["loop"].append(bj_loop())
        o, s_, l_ = (min(ts[k]) * 1e3 / T for k in ("ours", "scan", "loop"))
        print(
            f"{f'{d}-d Gaussian':<22}{P:>10}{o:>14.3f}{s_:>10.3f}{l_:>10.3f}"
            f"{o / s_:>13.2f}{o / l_:>13.2f}{first * 1e3 / T:>15.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
