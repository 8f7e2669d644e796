"""SVGD with default settings against NUTS on the same log-posteriors (issue 12 item 1).

    .venv/bin/python bench/bench_svgd_vs_nuts.py [--quick]

For each target, ``SVGD(model, data, prior=...)`` with nothing tuned (default particles,
iterations, step, kernel and transform) and ``NUTS`` (4 chains, 500 warm-up, 1000 draws; the exact
moments for the Gaussian) are run on the same model, data and prior. Printed per coordinate: the
posterior sd ratio SVGD / reference and the distance between the means in reference sd, and
the wall time of each fit (compile included). Targets: the seed's 1-d coalescent density (100
absorption times), the two-island coalescent (3 rates, 200 absorption times), a 7-epoch
population-size history fitted to a Poisson SFS (block counting, n = 8), and a 10-d correlated
Gaussian. The issue's target: every sd ratio >= 0.9 and every mean within 0.2 sd.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter NUTS chains")
    ap.add_argument("--only", nargs="*", type=int, help="targets to run, 1-4 (default all)")
    ap.add_argument(
        "--svgd", default="{}", help="extra SVGD arguments as JSON, e.g. '{\"n_iterations\": 3000}'"
    )
    a = ap.parse_args()
    svgd_kw = json.loads(a.svgd)
    import jax.numpy as jnp

    import jax

    jax.config.update("jax_enable_x64", True)
    from phasic import NUTS, SVGD, Graph, models

    rng = np.random.default_rng(2026)

    def gamma_prior(th):  # weak Gamma(2, 1) on every rate (log density, natural scale)
        return jnp.sum(jnp.log(th) - th)

    targets = []

    # 1. the seed's model: Kingman coalescent, 1 rate, 100 absorption times
    g = models.kingman(5)
    x = g.sample(100, theta=[1.3], rng=1)
    targets.append(("seed 1-d density", Graph.pmf_from_graph(g), x, "density", None))

    # 2. two-island coalescent: coalescence in each island and migration, 200 absorption times
    g = models.two_island_migration(3)
    x = g.sample(200, theta=[1.0, 0.5, 0.3], rng=2)
    targets.append(("two-island 3-d density", Graph.pmf_from_graph(g), x, "density", None))

    # 3. seven epochs of population size (pair coalescence rates) from a Poisson SFS
    n, E = 8, 7
    g = models.block_counting(n)
    esfs = Graph.moments_from_graph(g, 1, models.sfs_rewards(g, n), epochs=E)
    starts = jnp.asarray(np.r_[0.0, np.geomspace(0.05, 2.0, E - 1)])
    truth = np.array([1.0, 0.6, 0.4, 0.8, 1.5, 1.0, 0.7])

    def sfs(theta):
        return 3000.0 * esfs(theta[:, None], starts)[0]

    y = rng.poisson(np.asarray(sfs(jnp.asarray(truth)))).astype(float)
    targets.append(("7 rates, Poisson SFS", sfs, y, "poisson", None))

    # 4. a 10-d correlated Gaussian (exact moments)
    d = 10
    A = rng.normal(size=(d, d))
    C = A @ A.T / d + np.diag(np.logspace(-2, 0, d))
    mu = np.linspace(-1, 1, d)
    P = jnp.asarray(np.linalg.inv(C))

    def gauss(th):
        return -0.5 * (th - mu) @ P @ (th - mu)

    targets.append(("10-d Gaussian", None, None, "custom", (gauss, mu, np.sqrt(np.diag(C)))))

    print(
        f"{'target':<24}{'sd ratio (min..max)':>22}{'|mean diff| / sd (max)':>25}"
        f"{'SVGD s':>9}{'NUTS s':>9}"
    )
    for number, (name, model, data, lik, exact) in enumerate(targets, 1):
        if a.only and number not in a.only:
            continue
        if lik == "custom":
            kw = dict(log_likelihood=exact[0], theta_dim=d)
            model, data = None, None
        else:
            kw = dict(likelihood=lik, prior=gamma_prior)
        t0 = time.perf_counter()
        s = SVGD(model, data, verbose=False, **kw, **svgd_kw).fit(return_history=False)
        t_svgd = time.perf_counter() - t0
        if exact is not None:
            ref_mean, ref_sd, t_nuts = exact[1], exact[2], float("nan")
        else:
            t0 = time.perf_counter()
            nuts = NUTS(
                model,
                data,
                verbose=False,
                n_warmup=300 if a.quick else 500,
                n_samples=500 if a.quick else 1000,
                **kw,
            ).fit()
            t_nuts = time.perf_counter() - t0
            ref_mean, ref_sd = nuts.particles.mean(0), nuts.particles.std(0, ddof=1)
        ratio = s.particles.std(0, ddof=1) / ref_sd
        off = np.abs(s.particles.mean(0) - ref_mean) / ref_sd
        print(
            f"{name:<24}{f'{ratio.min():.2f}..{ratio.max():.2f}':>22}{off.max():>25.2f}"
            f"{t_svgd:>9.1f}{t_nuts:>9.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
