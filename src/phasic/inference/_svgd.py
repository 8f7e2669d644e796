"""Stein variational gradient descent as pure functions (blackjax style): `svgd_init` and a step.

The step runs on particles sharded over a 1-D device mesh (`shard_map`): each device computes the
score of its own particles once (so FFI model calls stay on the device that owns the particle),
gathers positions and scores, and moves its particles along

    φ(x_i) = Σ_j w_j [k(x_j, x_i) ∇log p(x_j) + ∇_{x_j} k(x_j, x_i)] / Σ_j w_j,

with w_j = 0 for padding particles. With one device this is plain SVGD. A kernel with
``precondition`` runs this in coordinates whitened by the particles' mean and covariance
(Wang et al. 2019's matrix-valued kernel with the particles' covariance as preconditioner).

References
----------
Liu, Q. & Wang, D. (2016). Stein variational gradient descent. NeurIPS.
Wang, D., Tang, Z., Bajaj, C. & Liu, Q. (2019). Stein variational gradient descent with
matrix-valued kernels. NeurIPS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, cast

import jax.numpy as jnp
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import jax

from ._stein_kernels import Kernel, spread_factor

__all__ = [
    "SVGDInfo",
    "SVGDState",
    "make_block_runner",
    "svgd_direction",
    "svgd_init",
    "svgd_step",
]

AXIS = "particles"


class SVGDState(NamedTuple):
    """particles (n, d) in unconstrained space; optimizer state; bandwidth; iteration."""

    particles: jax.Array
    opt_state: optax.OptState
    bandwidth: jax.Array
    iteration: jax.Array


class SVGDInfo(NamedTuple):
    """Per-iteration diagnostics: bandwidth, mean particle movement, first non-finite score, and
    the particles' mean log density (before the move; a steady fall means divergence)."""

    bandwidth: jax.Array
    movement: jax.Array
    bad_particle: jax.Array  # global index of the first particle with a non-finite score, or -1
    logdensity: jax.Array


def svgd_init(particles: jax.Array, optimizer: optax.GradientTransformation) -> SVGDState:
    """The state at iteration 0: ``particles`` (n, d) on the unconstrained scale."""
    particles = jnp.asarray(particles)
    return SVGDState(
        particles, optimizer.init(particles), jnp.zeros(()), jnp.zeros((), dtype=jnp.int32)
    )


def svgd_direction(
    kernel: Kernel, h: jax.Array, x_all: jax.Array, s_all: jax.Array, w_all: jax.Array, x_local
) -> jax.Array:
    """φ at ``x_local`` (m, d) from all particles ``x_all`` (N, d), scores and weights."""
    K, G = kernel.fn(x_all, x_local, h)  # (N, m), (N, m, d)
    wsum = jnp.sum(w_all)
    drive = jnp.einsum("jm,jd->md", K * w_all[:, None], s_all)
    repulse = jnp.einsum("jmd,j->md", G, w_all)
    return (drive + repulse) / wsum


def svgd_step(
    state: SVGDState,
    logdensity: Callable[[jax.Array], jax.Array],
    kernel: Kernel,
    optimizer: optax.GradientTransformation,
    weights: jax.Array | None = None,
    axis_name: str | None = None,
) -> tuple[SVGDState, SVGDInfo]:
    """One SVGD iteration: pure and jittable.

    Parameters
    ----------
    state : SVGDState
        Particles (n, d) on the unconstrained scale; under ``shard_map`` the local block.
    logdensity : callable
        ``logdensity(z) -> scalar`` for one particle z (d,) (e.g. `make_logdensity`).
    kernel : Kernel
    optimizer : optax.GradientTransformation
        Applied to ``-φ`` (optax minimizes).
    weights : array (n,), optional
        1 for a particle, 0 for padding (padding neither moves nor counts); all 1 when None.
    axis_name : str, optional
        The mapped axis the particles are sharded over: positions, scores and weights are
        gathered across it, so every device moves its own particles by all of them.

    Returns
    -------
    (SVGDState, SVGDInfo)
        A particle whose score is not finite does not drive the others (its score counts as 0)
        and is reported in ``SVGDInfo.bad_particle``.
    """
    x = state.particles
    w = jnp.ones(x.shape[0], x.dtype) if weights is None else weights

    def gather(a):
        return a if axis_name is None else jax.lax.all_gather(a, axis_name, tiled=True)

    def total(a):
        return a if axis_name is None else jax.lax.psum(a, axis_name)

    # once per particle, outside the pairwise sums; the value comes with the gradient for free
    lp, s = jax.vmap(jax.value_and_grad(logdensity))(x)
    finite = jnp.all(jnp.isfinite(s), axis=1)
    s = jnp.where(finite[:, None], s, 0.0)
    x_all, s_all, w_all = gather(x), gather(s), gather(w)
    f_all = gather(finite | (w == 0))
    if kernel.precondition:
        # SVGD in z = L⁻¹ (x - m): scores become Lᵀ ∇log p, and the direction maps back by L
        m, L = spread_factor(jax.lax.stop_gradient(x_all), w_all)

        def whiten(a):
            return jax.scipy.linalg.solve_triangular(L, (a - m).T, lower=True).T

        z_all = whiten(x_all)
        h = kernel.bandwidth_of(z_all, w_all, state.bandwidth)
        phi = svgd_direction(kernel, h, z_all, s_all @ L, w_all, whiten(x)) @ L.T
    else:
        h = kernel.bandwidth_of(x_all, w_all, state.bandwidth)
        phi = svgd_direction(kernel, h, x_all, s_all, w_all, x)
    updates, opt_state = optimizer.update(-phi, state.opt_state, x)
    x_new = jnp.where(w[:, None] > 0, optax.apply_updates(x, updates), x)
    move = total(jnp.sum(jnp.abs(x_new - x) * w[:, None])) / jnp.sum(w_all)
    bad = jnp.where(jnp.all(f_all), -1, jnp.argmin(f_all))
    mean_lp = total(jnp.sum(jnp.where(w > 0, lp, 0.0) * w)) / jnp.sum(w_all)
    return SVGDState(x_new, opt_state, h, state.iteration + 1), SVGDInfo(h, move, bad, mean_lp)


def make_block_runner(
    logdensity: Callable[[jax.Array], jax.Array],
    kernel: Kernel,
    optimizer: optax.GradientTransformation,
    mesh: Mesh,
    block: int,
) -> Callable:
    """A jitted function running ``block`` SVGD iterations on particles sharded over ``mesh``:
    ``run(state, weights) -> (state, particles per iteration (block, n, d), SVGDInfo per
    iteration)``; the outputs are replicated, so every process can read them.
    """
    spec = PartitionSpec(AXIS)

    def state_spec(state: SVGDState) -> Any:
        """The partition specs of a state: a pytree of the state's shape."""
        ospec = jax.tree_util.tree_map(
            lambda a: spec if jnp.ndim(a) >= 1 else PartitionSpec(), state.opt_state
        )
        scalar = cast(Any, PartitionSpec())
        return SVGDState(cast(Any, spec), ospec, scalar, scalar)

    def run(state: SVGDState, weights):
        sspec = state_spec(state)
        step = jax.shard_map(
            lambda st, w: svgd_step(st, logdensity, kernel, optimizer, w, AXIS),
            mesh=mesh,
            in_specs=(sspec, spec),
            out_specs=(sspec, PartitionSpec()),
            check_vma=False,
        )

        def body(st, _):
            new, info = step(st, weights)
            return new, (new.particles, info)

        state, (xs, infos) = jax.lax.scan(body, state, None, length=block)
        rep = NamedSharding(mesh, PartitionSpec())
        xs = jax.lax.with_sharding_constraint(xs, rep)
        infos = jax.tree_util.tree_map(lambda a: jax.lax.with_sharding_constraint(a, rep), infos)
        return state, xs, infos

    return jax.jit(run)
