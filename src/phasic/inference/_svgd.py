"""Stein variational gradient descent as pure functions (blackjax style): `svgd_init` and a step.

The step runs on particles sharded over a 1-D device mesh (`shard_map`): each device computes the
score of its own particles once (so FFI model calls stay on the device that owns the particle),
gathers positions and scores, and moves its particles along

    φ(x_i) = Σ_j w_j [k(x_j, x_i) ∇log p(x_j) + ∇_{x_j} k(x_j, x_i)] / Σ_j w_j,

with w_j = 0 for padding particles. With one device this is plain SVGD.

References
----------
Liu, Q. & Wang, D. (2016). Stein variational gradient descent. NeurIPS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import jax

from ._kernels import Kernel

__all__ = ["SVGDInfo", "SVGDState", "make_block_runner", "svgd_direction", "svgd_init"]

AXIS = "particles"


class SVGDState(NamedTuple):
    """particles (n, d) in unconstrained space; optimizer state; bandwidth; iteration."""

    particles: jax.Array
    opt_state: optax.OptState
    bandwidth: jax.Array
    iteration: jax.Array


class SVGDInfo(NamedTuple):
    """Per-iteration diagnostics: bandwidth, mean particle movement, first non-finite score."""

    bandwidth: jax.Array
    movement: jax.Array
    bad_particle: jax.Array  # global index of the first particle with a non-finite score, or -1


def svgd_init(particles, optimizer: optax.GradientTransformation) -> SVGDState:
    particles = jnp.asarray(particles)
    return SVGDState(
        particles, optimizer.init(particles), jnp.zeros(()), jnp.zeros((), dtype=jnp.int32)
    )


def svgd_direction(kernel: Kernel, h, x_all, s_all, w_all, x_local):
    """φ at ``x_local`` (m, d) from all particles ``x_all`` (N, d), scores and weights."""
    K, G = kernel.fn(x_all, x_local, h)  # (N, m), (N, m, d)
    wsum = jnp.sum(w_all)
    drive = jnp.einsum("jm,jd->md", K * w_all[:, None], s_all)
    repulse = jnp.einsum("jmd,j->md", G, w_all)
    return (drive + repulse) / wsum


def make_block_runner(
    logdensity: Callable,
    kernel: Kernel,
    optimizer: optax.GradientTransformation,
    mesh: Mesh,
    block: int,
):
    """A jitted function running ``block`` SVGD iterations:
    ``run(state, weights) -> (state, particles per iteration (block, n, d), SVGDInfo per iteration)``.
    """
    score = jax.vmap(jax.grad(logdensity))
    n_dev = mesh.devices.size

    def local_step(x, opt_state, h_prev, w):
        s = score(x)
        finite = jnp.all(jnp.isfinite(s), axis=1)
        s = jnp.where(finite[:, None], s, 0.0)
        x_all = jax.lax.all_gather(x, AXIS, tiled=True)
        s_all = jax.lax.all_gather(s, AXIS, tiled=True)
        w_all = jax.lax.all_gather(w, AXIS, tiled=True)
        f_all = jax.lax.all_gather(finite | (w == 0), AXIS, tiled=True)
        h = kernel.bandwidth_of(x_all, w_all, h_prev)
        phi = svgd_direction(kernel, h, x_all, s_all, w_all, x)
        updates, opt_state = optimizer.update(-phi, opt_state, x)
        x_new = jnp.where(w[:, None] > 0, optax.apply_updates(x, updates), x)
        move = jax.lax.psum(jnp.sum(jnp.abs(x_new - x) * w[:, None]), AXIS) / jnp.sum(w_all)
        bad = jnp.where(jnp.all(f_all), -1, jnp.argmin(f_all))
        return x_new, opt_state, h, move, bad

    spec = PartitionSpec(AXIS)

    def opt_spec(opt_state):
        return jax.tree_util.tree_map(
            lambda a: spec if jnp.ndim(a) >= 1 else PartitionSpec(), opt_state
        )

    def run(state: SVGDState, weights):
        ospec = opt_spec(state.opt_state)
        step = jax.shard_map(
            local_step,
            mesh=mesh,
            in_specs=(spec, ospec, PartitionSpec(), spec),
            out_specs=(spec, ospec, PartitionSpec(), PartitionSpec(), PartitionSpec()),
            check_vma=False,
        )

        def body(st, _):
            x, o, h, move, bad = step(st.particles, st.opt_state, st.bandwidth, weights)
            new = SVGDState(x, o, h, st.iteration + 1)
            return new, (x, SVGDInfo(h, move, bad))

        state, (xs, infos) = jax.lax.scan(body, state, None, length=block)
        # replicated outputs: every process can read the block's particles and diagnostics
        rep = NamedSharding(mesh, PartitionSpec())
        xs = jax.lax.with_sharding_constraint(xs, rep)
        infos = jax.tree_util.tree_map(lambda a: jax.lax.with_sharding_constraint(a, rep), infos)
        return state, xs, infos

    del n_dev
    return jax.jit(run)
