"""The JAX side of `phasic._clock` (graphs whose rates are θ times constants): first moments
and densities under epochs on the θ = 1 clock.

First moments: E[Y] = τ · r with τ from `phasic._clock` (O(u) = Σ_m o_m(u) ν_m on the θ = 1
Coxian), so E[Y] = Σ_m w_m (ν_m · r): the reduction and the contractions G_m = ν_m · r are done
once, when the function is built; a call costs one native series over the M phases per epoch
boundary, whose derivative in the clock is the phase masses themselves, so JAX differentiates
it in θ and the start times exactly (to any order). Without epochs this is E[Y] = O(∞) r / θ.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import numpy as np

import jax

from .._clock import clock_coxian, clock_starts, phase_times
from ..graph._arrays import GraphArrays
from ._ops import _register

__all__ = ["clock_change_first_moment", "clock_density"]


def clock_density(ops, n_epochs: int, tol: float, max_steps: int, log: bool) -> Callable:
    """``density(th (E, 1), t (T,), starts (E,))`` of a θ-scaled chain under epochs: the θ = 1
    density on the clock, θ_e f_1(u(t)) with u(t) = u_e + θ_e (t - t_e) in the epoch e holding t
    (its log: log θ_e + log f_1(u), exact in far tails). One series at θ = 1 for every time,
    instead of a carry per epoch; JAX differentiates it through f_1's time derivative."""
    one = jnp.ones(1)

    def density(th: jax.Array, t: jax.Array, starts: jax.Array) -> jax.Array:
        theta = th[:, 0]
        deltas = jnp.diff(starts)
        u0 = jnp.concatenate([jnp.zeros(1), clock_starts(theta, deltas, jnp)])
        e = jnp.clip(jnp.searchsorted(starts, t, side="right") - 1, 0, n_epochs - 1)
        u = u0[e] + theta[e] * (t - starts[e])
        f = ops.series(one, u, False, True, tol, max_steps, log)
        out = jnp.log(theta[e]) + f if log else theta[e] * f
        return jnp.where(jnp.all(deltas >= 0), out, jnp.nan)

    return density


def clock_change_first_moment(ga: GraphArrays, r: np.ndarray, max_steps: int) -> Callable | None:
    """``fn(theta (E, 1), deltas (E - 1,)) -> E[Y] (1, R)`` for rewards r (n, R) by the change of
    clock (`phasic._clock`), or None where it does not apply (more than one parameter, base
    weights, a θ-dependent start, or a graph that does not reduce to a Coxian)."""
    cx = clock_coxian(ga)
    if cx is None:
        return None
    # G_m = ν_m · r
    G = np.add.reduceat(cx.nu[:, None] * np.asarray(r, dtype=float)[cx.idx], cx.start[:-1], axis=0)
    state = _coxian_state(cx.rates, cx.mass0, cx.C, max_steps)
    G_j, occ_inf_j = jnp.asarray(G), jnp.asarray(cx.occ_inf)

    def fn(th: jax.Array, deltas: jax.Array) -> jax.Array:
        t = th[:, 0]
        occ = state(clock_starts(t, deltas, jnp))[0] if t.shape[0] > 1 else None  # (E - 1, M)
        w = phase_times(occ_inf_j, t, occ)
        w = jnp.where(jnp.all(deltas >= 0), w, jnp.nan)  # decreasing start times
        return (w @ G_j)[None]

    return fn


def _coxian_state(rates: np.ndarray, mass0: float, C: np.ndarray, max_steps: int) -> Callable:
    """``state(u) -> (occ, x)`` for clock values u (U,): the Coxian's time in each phase during
    [0, u] and its phase masses at u, (U, M) each, by the native series (NaN past max_steps).
    Differentiable to any order: d occ/du = x, dx/du = x C."""
    _register()
    M = rates.size // 2
    rates_j, mass_j, C_j = jnp.asarray(rates), jnp.asarray([mass0]), jnp.asarray(C)

    @jax.custom_jvp
    def state(u: jax.Array) -> tuple[jax.Array, jax.Array]:
        out = jax.ShapeDtypeStruct((*u.shape, M), jnp.float64)
        occ, x = jax.ffi.ffi_call("phasic_coxian_state", (out, out), vmap_method="expand_dims")(
            rates_j, mass_j, u, max_steps=np.int64(max_steps)
        )
        return occ, x

    @state.defjvp
    def state_jvp(primals, tangents):
        (u,), (du,) = primals, tangents
        occ, x = state(u)
        return (occ, x), (x * du[..., None], (x @ C_j) * du[..., None])

    return state
