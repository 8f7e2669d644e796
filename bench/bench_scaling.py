"""SVGD throughput against local devices and processes, and the compute/communication split.

    .venv/bin/python bench/bench_scaling.py [--particles 640] [--iterations 40]

Runs the seed's model (8-sample coalescent, 40 pdf points, Gaussian likelihood) as
(a) 1 process x 1 device, (b) 1 process x 2 devices, (c) 2 processes x 1 device (localhost JAX
cluster, gloo), each in its own subprocess, and prints particle-iterations per second. It also
times the per-particle score alone (compute) against a full iteration to estimate the share of
an iteration that does not shrink with more devices (gathers, kernel matrix, dispatch).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import textwrap

WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    from phasic import initialize_distributed, SVGD, Graph
    cfg = initialize_distributed(timeout=120)
    import jax, jax.numpy as jnp, numpy as np

    def cb(state, nr_samples=8):
        if not state.size:
            return [[[nr_samples], 1.0, [1.0]]]
        k = state[0]
        return [[[k - 1], 0.0, [k * (k - 1) / 2]]] if k > 1 else []

    pdf = Graph.pmf_from_graph(Graph(callback=cb, parameterized=True))
    t = jnp.linspace(0.05, 6.0, 40)
    model = lambda th: pdf(th, t)
    obs = model(jnp.array([1.2])) + 0.03 * np.random.default_rng(1).normal(size=40)
    P, iters = {particles}, {iters}
    init = np.random.default_rng(0).uniform(0.5, 2.0, size=(P, 1))
    s = SVGD(model, obs, theta_init=init, n_iterations=iters, learning_rate=0.01,
             verbose=False, block_size=iters)
    s.fit(return_history=False)
    t0 = time.perf_counter()
    s.fit(return_history=False)
    per_it = (time.perf_counter() - t0) / iters
    score = jax.jit(jax.vmap(jax.grad(lambda th: -0.5 * jnp.sum((obs - model(th)) ** 2))))
    x = jnp.asarray(init[: P // cfg.global_device_count])
    score(x).block_until_ready()
    t0 = time.perf_counter()
    for _ in range(5):
        score(x).block_until_ready()
    local_score = (time.perf_counter() - t0) / 5
    if cfg.is_coordinator:
        print("RESULT", json.dumps(dict(per_it=per_it, local_score=local_score,
              devices=cfg.global_device_count, processes=cfg.num_processes)))
    """
)


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(processes, cpus, code):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "XLA_FLAGS"))}
    port = str(_port())
    procs = []
    for rank in range(processes):
        env = dict(
            base,
            SLURM_JOB_ID="0",
            SLURM_NTASKS=str(processes),
            SLURM_PROCID=str(rank),
            SLURM_CPUS_PER_TASK=str(cpus),
            SLURM_JOB_NODELIST="localhost",
            PHASIC_COORDINATOR_PORT=port,
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", code],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    res = None
    for p in procs:
        out, err = p.communicate(timeout=900)
        if p.returncode:
            raise RuntimeError(err[-2000:])
        for line in out.splitlines():
            if line.startswith("RESULT "):
                res = json.loads(line[7:])
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--particles", type=int, default=640)
    ap.add_argument("--iterations", type=int, default=40)
    args = ap.parse_args()
    code = WORKER.format(particles=args.particles, iters=args.iterations)
    print(f"{'layout':<26} {'ms/iteration':>12} {'particle-it/s':>14} {'score share':>12}")
    rows = {}
    for name, procs, cpus in [
        ("1 process x 1 device", 1, 1),
        ("1 process x 2 devices", 1, 2),
        ("2 processes x 1 device", 2, 1),
    ]:
        r = run(procs, cpus, code)
        rows[name] = r
        share = r["local_score"] / r["per_it"]
        print(
            f"{name:<26} {r['per_it'] * 1e3:>12.1f} {args.particles / r['per_it']:>14.0f} "
            f"{share:>12.2f}"
        )
    base = rows["1 process x 1 device"]
    f = min(1.0, base["local_score"] / base["per_it"])  # parallel fraction (score computation)
    for n_dev in (256,):
        speedup = 1.0 / ((1 - f) + f / n_dev)
        print(
            f"strong scaling of this {args.particles}-particle problem (Amdahl, parallel fraction "
            f"{f:.2f}) on {n_dev} devices (8 nodes x 32 cores): speed-up {speedup:.1f}x, "
            f"efficiency {speedup / n_dev:.1%}; weak scaling (fixed particles per device) keeps "
            "the score time per device and adds only the all-gather of positions and scores"
        )


if __name__ == "__main__":
    main()
