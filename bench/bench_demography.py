"""Expected SFS under a size change, value and gradient, against `moments`; SVGD cost of the
bottleneck fit. Prints ratios measured in one run.

    make bench-deps        # moments-popgen into .bench-deps (a separate tree, not a dependency)
    PYTHONPATH=.bench-deps .venv/bin/python bench/bench_demography.py [--sizes 20 30 40]

Two-epoch model: size 1 until T = 0.2, size 3 before (time in units where a pair coalesces at
rate 1 at size 1). phasic: `moments_from_graph(block_counting(n), 1, sfs_rewards, epochs=2)`,
jitted; the constant-size cost is the same graph without epochs. Block counting's rates are θ
times constants, so its first moments take the change of clock (one Coxian of the θ = 1 graph,
built with the function); the second table times a two-parameter copy of the same chain (rates
(θ0 + θ1) C), which is carried through the graph: the cost of any other reducible model. `moments` integrates the
diffusion forward from equilibrium at the ancestral size; its gradient would be finite
differences (1 + p values). The SVGD line times the value and gradient of the Poisson
log-likelihood of the three-epoch bottleneck of examples/demography_inference.py for 200
particles (vmap), which dominates an SVGD iteration. The IM lines time the joint SFS of
`models.isolation_migration` (k + k samples) with a split epoch, against the same graph without
epochs: the per-particle cost of the example's IM fit.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from _timing import best_time

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import jax
from phasic import Graph, models
from phasic.inference import poisson_sfs_log_likelihood
from reference_models import two_parameter_block_counting  # noqa: E402

jax.config.update("jax_enable_x64", True)

T, NA = 0.2, 3.0
THETA = jnp.array([[1.0], [1.0 / NA]])
STARTS = jnp.array([0.0, T])


def phasic_rows(n: int, general: bool = False) -> dict:
    """Block counting, or with ``general`` its two-parameter copy (rates (θ0 + θ1) C: not a pure
    scale, so no change of clock; the epoch is carried through the graph)."""
    g = two_parameter_block_counting(n) if general else models.block_counting(n)
    theta = jnp.column_stack([THETA[:, 0] / 2, THETA[:, 0] / 2]) if general else THETA
    r = models.sfs_rewards(g, n)
    const = jax.jit(Graph.moments_from_graph(g, 1, r))
    epochs_fn = Graph.moments_from_graph(g, 1, r, epochs=2)
    value = jax.jit(epochs_fn)
    w = jnp.arange(1.0, n)
    grad = jax.jit(jax.grad(lambda th, st: jnp.sum(w * epochs_fn(th, st)[0]), argnums=(0, 1)))
    sfs = np.asarray(value(theta, STARTS))[0]
    return dict(
        states=g.compile().n_transient,
        sfs=sfs,
        const=best_time(lambda: const(theta[0]).block_until_ready()),
        value=best_time(lambda: value(theta, STARTS).block_until_ready()),
        grad=best_time(lambda: jax.block_until_ready(grad(theta, STARTS))),
    )


def moments_row(n: int):
    try:
        import moments
    except ImportError:
        return None
    import time

    def run():
        fs = moments.Demographics1D.snm([n])  # equilibrium at the ancestral size (reference)
        fs.integrate([1.0 / NA], T / NA)  # size 1 / NA of the reference for T / NA units
        return fs

    fs = run()
    t0 = time.perf_counter()
    reps = 0
    while time.perf_counter() - t0 < 0.5 or reps < 3:
        run()
        reps += 1
    # moments' fs at θ = 1 is half the expected branch length in units of 2 N_ref generations;
    # one such unit is NA of ours
    return np.asarray(fs)[1:-1] * 2 * NA, (time.perf_counter() - t0) / reps


def svgd_row(particles: int = 200, n: int = 20) -> float:
    g = models.block_counting(n)
    fn = Graph.moments_from_graph(g, 1, models.sfs_rewards(g, n), epochs=3)
    observed = jnp.asarray(
        np.round(
            500 * np.asarray(fn(jnp.array([[1.0], [5.0], [0.5]]), jnp.array([0.0, 0.3, 0.5]))[0])
        )
    )

    def loglik(p):
        rates = (1.0 / p[:3])[:, None]
        starts = jnp.stack([0.0, p[3], p[3] + 0.2])
        return poisson_sfs_log_likelihood(500 * fn(rates, starts)[0], observed)

    step = jax.jit(jax.vmap(jax.value_and_grad(loglik)))
    key = jax.random.PRNGKey(0)
    p = jnp.exp(0.3 * jax.random.normal(key, (particles, 4))) * jnp.array([1.0, 0.2, 2.0, 0.3])
    return best_time(lambda: jax.block_until_ready(step(p)), min_time=0.0, max_reps=3)


def epoch_density_row(n: int) -> tuple[float, float, float]:
    """(block counting, its two-parameter copy, max relative difference): seconds for the
    density under two epochs at 100 times on [0.05, 4]; the first is the θ = 1 density on the
    clock, the second carries the state distribution through the graph."""
    one, two = models.block_counting(n), two_parameter_block_counting(n)
    th2 = jnp.column_stack([THETA[:, 0] / 2, THETA[:, 0] / 2])
    t = jnp.linspace(0.05, 4.0, 100)
    f1 = jax.jit(Graph.pmf_from_graph(one, epochs=2))
    f2 = jax.jit(Graph.pmf_from_graph(two, epochs=2))
    diff = float(jnp.max(jnp.abs(f1(THETA, t, STARTS) / f2(th2, t, STARTS) - 1)))
    return (
        best_time(lambda: f1(THETA, t, STARTS).block_until_ready()),
        best_time(lambda: f2(th2, t, STARTS).block_until_ready(), min_time=0.0, max_reps=3),
        diff,
    )


def eager_row(n: int) -> tuple[float, float]:
    """Seconds for the eager expected SFS under the two epochs (`Graph.expectation(...,
    epochs=)`): block counting (the clock) and its two-parameter copy (carried through the
    graph)."""
    one, two = models.block_counting(n), two_parameter_block_counting(n)
    r1, r2 = models.sfs_rewards(one, n), models.sfs_rewards(two, n)
    th, th2 = np.asarray(THETA), np.column_stack([THETA[:, 0] / 2, THETA[:, 0] / 2])
    st = np.asarray(STARTS)
    return (
        best_time(lambda: one.expectation(rewards=r1, theta=th, epochs=st)),
        best_time(lambda: two.expectation(rewards=r2, theta=th2, epochs=st)),
    )


def im_row(k: int) -> tuple[int, float, float]:
    """(states, value + gradient with a split epoch, the same without epochs) in seconds, for
    the joint SFS of isolation with migration, k + k samples, one θ."""
    im = models.isolation_migration(k, k)
    r = models.joint_sfs_rewards(im, k, k)
    split = Graph.moments_from_graph(im, 1, r, epochs=2)
    const = Graph.moments_from_graph(im, 1, r)
    rows = jnp.array([[1.0, 2.0, 0.0, 0.5, 0.5], [0.7, 0.7, 0.7, 0.0, 0.0]])
    starts = jnp.array([0.0, 0.4])
    with_epochs = jax.jit(jax.value_and_grad(lambda th: jnp.sum(split(th, starts))))
    without = jax.jit(jax.value_and_grad(lambda th: jnp.sum(const(th))))
    return (
        im.compile().n_transient,
        best_time(lambda: jax.block_until_ready(with_epochs(rows))),
        best_time(lambda: jax.block_until_ready(without(rows[0]))),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="*", default=[20, 30, 40])
    ap.add_argument("--svgd-particles", type=int, default=200)
    ap.add_argument("--density-sizes", type=int, nargs="*", default=[20, 30])
    ap.add_argument("--im", type=int, nargs="*", default=[3, 4], help="IM sample sizes k (k + k)")
    args = ap.parse_args()
    losses = []
    for general in (False, True):
        print(
            "expected SFS, two epochs (ms; ratios in one run): "
            + (
                "two-parameter copy (rates (θ0 + θ1) C), carried through the graph"
                if general
                else "block counting (rates θ C: change of clock)"
            )
        )
        print(
            f"{'n':>4} {'states':>7} {'const':>8} {'epochs':>8} {'grad':>8} "
            f"{'epochs/const':>12} {'grad/value':>10} {'moments':>8} {'phasic/moments':>14} "
            f"{'max rel diff':>12}"
        )
        for n in args.sizes:
            r = phasic_rows(n, general)
            m = moments_row(n)
            mtime = "n/a" if m is None else f"{m[1] * 1e3:8.2f}"
            ratio = "n/a" if m is None else f"{r['value'] / m[1]:14.2f}"
            diff = "n/a" if m is None else f"{np.max(np.abs(r['sfs'] / m[0] - 1)):12.1e}"
            print(
                f"{n:>4} {r['states']:>7} {r['const'] * 1e3:8.3f} {r['value'] * 1e3:8.3f} "
                f"{r['grad'] * 1e3:8.3f} {r['value'] / r['const']:12.1f} "
                f"{r['grad'] / r['value']:10.1f} {mtime:>8} {ratio:>14} {diff:>12}"
            )
            if m is not None and r["value"] > m[1]:
                kind = "two-parameter copy" if general else "block counting"
                losses.append(f"{kind} n = {n}: `moments` {r['value'] / m[1]:.1f}x faster")
    print("where phasic loses to `moments`: " + ("; ".join(losses) or "nowhere in this run"))
    print("density under the two epochs, 100 times on [0.05, 4] (ms)")
    for n in args.density_sizes:
        clock, carried, diff = epoch_density_row(n)
        print(
            f"n = {n}: block counting (clock) {clock * 1e3:.2f}, two-parameter copy (carried) "
            f"{carried * 1e3:.1f}, {carried / clock:.0f}x; max rel diff {diff:.1e}"
        )
    print("eager expected SFS under the two epochs (ms)")
    for n in args.density_sizes:
        clock, carried = eager_row(n)
        print(
            f"n = {n}: block counting (clock) {clock * 1e3:.2f}, two-parameter copy (carried) "
            f"{carried * 1e3:.1f}, {carried / clock:.1f}x"
        )
    print("joint SFS of isolation with migration, split at 0.4: value + gradient of one θ")
    for k in args.im:
        states, t_split, t_const = im_row(k)
        print(
            f"IM {k} + {k}: {states} states, {t_split * 1e3:.1f} ms with the split epoch, "
            f"{t_split / t_const:.1f}x the same graph without epochs"
        )
    t = svgd_row(args.svgd_particles)
    print(
        f"bottleneck n = 20, three epochs, {args.svgd_particles} particles: value + gradient "
        f"{t:.2f} s per SVGD iteration"
    )


if __name__ == "__main__":
    main()
