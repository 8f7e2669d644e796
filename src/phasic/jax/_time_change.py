"""First moments under epochs of a graph whose rates are θ times constants: a change of clock.

When every transient edge weight is ``c_e θ`` (one parameter, no base weights) and the start
distribution α does not depend on θ (the coalescent in units of a population size, block
counting), the generator of epoch e is ``θ_e S₁`` with S₁ the generator at θ = 1. The chain under
piecewise-constant θ is the θ = 1 chain run on the clock ``u(t) = ∫₀ᵗ θ``, so with
``O(u) = ∫₀ᵘ α exp(S₁ v) dv`` the expected reward is

    E[Y] = O(∞) r / θ_last + Σ_{e ≥ 1} (1/θ_{e-1} - 1/θ_e) O(u_e) r,   u_e = Σ_{k<e} θ_k Δ_k.

Where the θ = 1 graph reduces exactly to a Coxian (`src/cpp/reduce.cpp`: α exp(S₁ v) =
Σ_m x_m(v) ν_m), O(u) r = Σ_m o_m(u) (ν_m · r) with o(u) the Coxian's time in each phase, an
M-phase computation (M = depth, 39 at n = 40 against 37,337 states). The reduction and the
contractions G_m = ν_m · r are done once, when the function is built; a call costs one series
over M phases per epoch boundary (native), whose derivative in the clock is the phase masses
themselves, so JAX differentiates it in θ and the start times exactly. Without epochs this is
E[Y] = O(∞) r / θ.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import numpy as np

import jax

from .. import _core
from ..graph._arrays import GraphArrays
from ._ops import _register

__all__ = ["clock_change_first_moment", "clock_density", "clock_start"]


def _theta_free_start(ga: GraphArrays) -> np.ndarray | None:
    """α over the transient states when it does not depend on θ (one start edge, or start
    weights without coefficients); else None."""
    idx = np.asarray(ga.start_indices)
    w = np.asarray(ga.start_base, dtype=float)
    if idx.size != 1 and np.any(np.asarray(ga.start_coef) != 0):
        return None
    if idx.size == 1:
        w = np.ones(1)
    if not np.all(w >= 0) or not w.sum() > 0 or np.any(idx >= ga.n_transient):
        return None  # a start edge into absorption (a defect) is left to the general path
    a = np.zeros(ga.n_transient)
    np.add.at(a, idx, w / w.sum())
    return a


def clock_start(ga: GraphArrays) -> np.ndarray | None:
    """The start distribution α (n,) when the graph is a θ-scaled chain (one parameter, every
    transient weight a constant times θ, α free of θ), else None."""
    if ga.param_length != 1 or ga.n_transient == 0 or np.any(np.asarray(ga.base) != 0):
        return None
    return _theta_free_start(ga)


def clock_density(ops, n_epochs: int, tol: float, max_steps: int, log: bool) -> Callable:
    """``density(th (E, 1), t (T,), starts (E,))`` of a θ-scaled chain under epochs: the θ = 1
    density on the clock, θ_e f_1(u(t)) with u(t) = u_e + θ_e (t - t_e) in the epoch e holding t
    (its log: log θ_e + log f_1(u), exact in far tails). One series at θ = 1 for every time,
    instead of a carry per epoch; JAX differentiates it through f_1's time derivative."""
    one = jnp.ones(1)

    def density(th: jax.Array, t: jax.Array, starts: jax.Array) -> jax.Array:
        theta = th[:, 0]
        deltas = jnp.diff(starts)
        u0 = jnp.concatenate([jnp.zeros(1), jnp.cumsum(theta[:-1] * deltas)])
        e = jnp.clip(jnp.searchsorted(starts, t, side="right") - 1, 0, n_epochs - 1)
        u = u0[e] + theta[e] * (t - starts[e])
        f = ops.series(one, u, False, True, tol, max_steps, log)
        out = jnp.log(theta[e]) + f if log else theta[e] * f
        return jnp.where(jnp.all(deltas >= 0), out, jnp.nan)

    return density


def clock_change_first_moment(ga: GraphArrays, r: np.ndarray, max_steps: int) -> Callable | None:
    """``fn(theta (E, 1), deltas (E - 1,)) -> E[Y] (1, R)`` for rewards r (n, R) by the change of
    clock (module docstring), or None where it does not apply (more than one parameter, base
    weights, a θ-dependent start, or a graph that does not reduce to a Coxian)."""
    alpha = clock_start(ga)
    if alpha is None:
        return None
    red = _core.coxian_reduction(ga.native, np.ones(1), alpha)
    if red is None:
        return None
    rates, start, idx, nu = (np.asarray(red[k]) for k in (0, 2, 3, 4))
    mass0 = float(red[1])
    M = rates.size // 2
    on, out = rates[0::2], rates[1::2]
    lam = on + out
    # G_m = ν_m · r
    contrib = nu[:, None] * np.asarray(r, dtype=float)[idx]
    G = np.add.reduceat(contrib, start[:-1], axis=0) if contrib.size else np.zeros((M, r.shape[1]))
    C = np.diag(-lam) + np.diag(on[:-1], 1)  # the Coxian's generator
    # O(∞): the expected time in each phase, mass0 e₀ (-C)⁻¹ by forward substitution
    occ_inf = np.zeros(M)
    carry = mass0
    for m in range(M):
        occ_inf[m] = carry / lam[m]
        carry = occ_inf[m] * on[m]
    state = _coxian_state(rates, mass0, C, max_steps)
    G_j, occ_inf_j = jnp.asarray(G), jnp.asarray(occ_inf)

    def fn(th: jax.Array, deltas: jax.Array) -> jax.Array:
        t = th[:, 0]
        w = occ_inf_j / t[-1]
        if t.shape[0] > 1:
            u = jnp.cumsum(t[:-1] * deltas)  # the θ = 1 clock at epochs 1..E-1's starts
            occ, _ = state(u)  # (E - 1, M)
            w = w + (1.0 / t[:-1] - 1.0 / t[1:]) @ occ
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
