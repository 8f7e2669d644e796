"""SVGD throughput: time per iteration (value + gradient included) and particle-iterations per
second, for the block-counting coalescent and the seed's model, on the local devices.

    .venv/bin/python bench/bench_svgd.py [--devices 2] [--sizes 20 30] [--particles 100 1000]

The block-counting model is fitted through its first two moments (Gaussian likelihood on
E[T], E[T^2] of the time to the most recent common ancestor): one batched solve per moment per
iteration for all particles of a device.
"""

from __future__ import annotations

import argparse
import os
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--devices", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--sizes", type=int, nargs="*", default=[20, 30])
    ap.add_argument("--particles", type=int, nargs="*", default=[100, 1000])
    ap.add_argument("--iterations", type=int, default=20)
    args = ap.parse_args()
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={args.devices}"
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np

    from phasic import SVGD, Graph
    from phasic.models import block_counting

    print(f"devices: {len(jax.devices())}")
    print(f"{'model':<28} {'particles':>9} {'ms/iteration':>13} {'particle-it/s':>14}")

    def run(name, model, obs, n_particles, theta_dim=1):
        init = np.random.default_rng(0).uniform(0.8, 1.2, size=(n_particles, theta_dim))
        kw = dict(
            theta_init=init, learning_rate=0.01, verbose=False, noise_scale=0.05, block_size=10
        )

        s = SVGD(model, obs, n_iterations=args.iterations, **kw)
        s.fit(return_history=False)  # compiles the block
        t0 = time.perf_counter()
        s.fit(return_history=False)  # the same compiled block again
        dt = (time.perf_counter() - t0) / args.iterations
        print(f"{name:<28} {n_particles:>9} {dt * 1e3:>13.1f} {n_particles / dt:>14.0f}")

    for n in args.sizes:
        g = block_counting(n)
        mom = Graph.moments_from_graph(g, 2)
        obs = mom(jnp.array([1.0]))
        for P in args.particles:
            run(f"block-counting n={n} (moments)", mom, obs, P)

    def cb(state, nr_samples=8):
        if not state.size:
            return [[[nr_samples], 1.0, [1.0]]]
        k = state[0]
        return [[[k - 1], 0.0, [k * (k - 1) / 2]]] if k > 1 else []

    pdf = Graph.pmf_from_graph(Graph(callback=cb, parameterized=True))
    t = jnp.linspace(0.05, 6.0, 40)
    seed_model = lambda th: pdf(th, t)  # noqa: E731
    for P in args.particles:
        run("seed coalescent (40 pdf pts)", seed_model, seed_model(jnp.array([1.2])), P)


if __name__ == "__main__":
    main()
