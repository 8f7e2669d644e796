"""JAX functions of a graph: densities/pmfs and moments, jit/vmap/grad-ready, float64."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import jax.numpy as jnp
import numpy as np

import jax

from .._errors import ParameterError, PhasicError
from .._moment_chain import moment_chain
from .._settings import DEFAULT_MAX_STEPS, check_max_steps, check_tol
from ._ops import ops_for

if TYPE_CHECKING:
    from ..graph import Graph

__all__ = ["moments_from_graph", "pmf_and_moments_from_graph", "pmf_from_graph"]


def _require_x64() -> None:
    if not jax.config.read("jax_enable_x64"):
        raise PhasicError(
            "phasic's JAX functions compute in float64, but JAX is in 32-bit mode: call "
            "jax.config.update('jax_enable_x64', True) or initialize_distributed(enable_x64=True) "
            "before building the model"
        )


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def _theta(theta, p: int):
    th = jnp.asarray(theta, dtype=jnp.float64)
    if th.shape != (p,):
        raise ParameterError(
            f"θ has shape {th.shape}; this model takes θ of shape ({p},) (use jax.vmap for a batch)"
        )
    if _is_concrete(th) and not np.all(np.isfinite(np.asarray(th))):
        raise ParameterError(f"θ = {np.asarray(th).tolist()} holds NaN or infinite values")
    return th


def _times(times, discrete: bool):
    t = jnp.asarray(times, dtype=jnp.float64)
    if t.ndim > 1:
        raise ParameterError(f"times must be a scalar or 1-D, got shape {t.shape}")
    if _is_concrete(t):
        tv = np.asarray(t)
        if not np.all(np.isfinite(tv)) or np.any(tv < 0):
            raise ParameterError(f"times must be finite and >= 0; got {tv.ravel().tolist()[:8]}")
        if discrete and np.any(tv != np.round(tv)):
            raise ParameterError(
                f"jumps must be non-negative integers; got {tv.ravel().tolist()[:8]}"
            )
    return t


def pmf_from_graph(
    graph: Graph,
    discrete: bool = False,
    *,
    tol: float = 1e-12,
    max_steps: int = DEFAULT_MAX_STEPS,
    backend: str = "auto",
) -> Callable:
    """A JAX function of the absorption-time density (or discrete pmf).

    Parameters
    ----------
    graph : Graph
    discrete : bool
        Probability mass of the number of jumps instead of the continuous density.
    tol : float
        Error bound of the uniformization series (absolute and relative), in (0, 1).
    max_steps : int
        Most uniformization steps one evaluation may take (about largest rate × largest time);
        beyond it the value is NaN, so a sampler rejects the point instead of running out of
        time (memory does not grow with the step count).
    backend : {"auto", "ffi", "jax"}
        ``"ffi"``: native kernels through XLA FFI (CPU); ``"jax"``: pure JAX (dense); ``"auto"``
        picks ``"ffi"`` on CPU.

    Returns
    -------
    model
        ``model(theta, times)`` for a parameterized graph, ``model(times)`` otherwise; ``theta``
        shape (p,), ``times`` scalar or (T,); returns float64 of the shape of ``times``. Works
        under ``jax.jit``, ``jax.vmap`` (a θ batch becomes one kernel call), ``jax.grad`` and
        ``shard_map``.
    """
    _require_x64()
    tol = check_tol(tol)
    max_steps = check_max_steps(max_steps)
    ga = graph.compile()
    ops = ops_for(ga, backend)
    p = ga.param_length

    def model(theta, times) -> jax.Array:
        th = _theta(theta, p)
        t = _times(times, discrete)
        t1 = jnp.atleast_1d(t)

        def pmf(th):
            out = ops.series(th, t1, discrete, True, tol, max_steps)
            if discrete:  # P(τ = 0) is the defect
                out = jnp.where(t1 == 0, ops.defect(th), out)
            return out

        return ops.guard(th, pmf).reshape(t.shape)

    tag = f"pmf:{ga.fingerprint()}:{discrete}:{tol}:{max_steps}"
    out = model if graph.parameterized else (lambda times: model(jnp.zeros(0), times))
    vars(out)["phasic_fingerprint"] = tag  # identifies the model in SVGD checkpoints
    return out


def moments_from_graph(
    graph: Graph,
    nr_moments: int = 2,
    rewards=None,
    *,
    discrete: bool = False,
    backend: str = "auto",
) -> Callable:
    """A JAX function ``fn(theta) -> E[Y^j], j = 1..nr_moments`` (shape (nr_moments,) or
    (nr_moments, R) for a reward matrix). Exact, with exact gradients through adjoint solves."""
    _require_x64()
    if not isinstance(nr_moments, int) or nr_moments < 1:
        raise ParameterError(f"nr_moments = {nr_moments!r} must be an integer >= 1")
    ga = graph.compile()
    ops = ops_for(ga, backend)
    r_np, squeeze = ga.reward_matrix(rewards, graph.vertices_length())
    r = jnp.asarray(r_np)
    p = ga.param_length

    plain = rewards is None  # r = 1: no reward products in the chain

    def moments(th: jax.Array) -> jax.Array:
        # Continuous: z_j = y_j / j!, the factorials go on the moments, so no (n, R)-sized array
        # is scaled per θ (they dominate large batches).
        ys = moment_chain(
            lambda b: ops.solve(th, b),
            lambda x: ops.matvec(th, x),
            None if plain else r,
            jnp.ones_like(r),
            nr_moments,
            discrete,
            scaled=True,
        )
        scale = [1 if discrete else math.factorial(j) for j in range(nr_moments + 1)]
        return jnp.stack([scale[j] * ops.alpha_dot(th, y) for j, y in enumerate(ys) if j])

    def fn(theta=None) -> jax.Array:
        out = ops.guard(_theta(jnp.zeros(0) if theta is None else theta, p), moments)
        return out[:, 0] if squeeze else out

    vars(fn)["phasic_fingerprint"] = f"moments:{ga.fingerprint()}:{nr_moments}:{discrete}:" + (
        "ones"
        if rewards is None
        else hashlib.sha1(np.ascontiguousarray(r_np).tobytes()).hexdigest()
    )
    return fn


def pmf_and_moments_from_graph(
    graph: Graph,
    nr_moments: int = 2,
    discrete: bool = False,
    rewards=None,
    *,
    tol: float = 1e-12,
    max_steps: int = DEFAULT_MAX_STEPS,
    backend: str = "auto",
) -> Callable:
    """``model(theta, times) -> (pmf, moments)``: `pmf_from_graph` and `moments_from_graph` in one."""
    pmf = pmf_from_graph(graph, discrete, tol=tol, max_steps=max_steps, backend=backend)
    mom = moments_from_graph(graph, nr_moments, rewards, discrete=discrete, backend=backend)
    if graph.parameterized:
        return lambda theta, times: (pmf(theta, times), mom(theta))
    return lambda times: (pmf(times), mom())
