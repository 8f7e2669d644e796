"""Graphs whose rates are θ times constants, seen on the clock of θ = 1 (shared by the eager
and the JAX layers).

When every transient edge weight is ``c_e θ`` (one parameter, no base weights) and the start
distribution α does not depend on θ (the coalescent in units of a population size, block
counting), the generator under θ is ``θ S₁``: the chain under piecewise-constant θ is the θ = 1
chain run on the clock ``u(t) = ∫₀ᵗ θ``. With ``O(u) = ∫₀ᵘ α exp(S₁ v) dv`` (the expected time in
each state up to clock u) the expected time in each state under epochs is

    τ = O(∞) / θ_last + Σ_{e ≥ 1} (1/θ_{e-1} - 1/θ_e) O(u_e),   u_e = Σ_{k<e} θ_k Δ_k.

Where the θ = 1 graph reduces exactly to a Coxian (`src/cpp/reduce.cpp`: α exp(S₁ v) =
Σ_m x_m(v) ν_m), O(u) = Σ_m o_m(u) ν_m with o(u) the Coxian's time in each phase: an M-phase
computation (M = depth, 39 at n = 40 against 37,337 states).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _core
from .graph._arrays import GraphArrays

__all__ = [
    "ClockCoxian",
    "clock_coxian",
    "clock_residence",
    "clock_start",
    "clock_starts",
    "phase_times",
]


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


@dataclass(frozen=True)
class ClockCoxian:
    """The θ = 1 graph's Coxian: per phase m its rates on and out (``rates``, interleaved, 2M),
    generator C (M, M), expected time to absorption per phase ``occ_inf`` (M), the start mass,
    and ν_m (``nu``) on the states ``idx``, entries [start[m], start[m + 1])."""

    rates: np.ndarray
    C: np.ndarray
    occ_inf: np.ndarray
    mass0: float
    start: np.ndarray
    idx: np.ndarray
    nu: np.ndarray


def clock_coxian(ga: GraphArrays) -> ClockCoxian | None:
    """The Coxian of a θ-scaled chain at θ = 1, or None (not θ-scaled, or it does not reduce)."""
    alpha = clock_start(ga)
    if alpha is None:
        return None
    red = _core.coxian_reduction(ga.native, np.ones(1), alpha)
    if red is None:
        return None
    rates, start, idx, nu = (np.asarray(red[k]) for k in (0, 2, 3, 4))
    mass0 = float(red[1])
    M = rates.size // 2
    on, lam = rates[0::2], rates[0::2] + rates[1::2]
    C = np.diag(-lam) + np.diag(on[:-1], 1)
    occ_inf = np.zeros(M)  # mass0 e₀ (-C)⁻¹ by forward substitution
    carry = mass0
    for m in range(M):
        occ_inf[m] = carry / lam[m]
        carry = occ_inf[m] * on[m]
    return ClockCoxian(rates, C, occ_inf, mass0, start, idx, nu)


def clock_starts(thetas, deltas, xp):
    """u_e (E - 1,): the θ = 1 clock at epochs 1..E-1's starts, from θ_e (E,) and the epochs'
    lengths (E - 1,); ``xp`` is numpy or jax.numpy."""
    return xp.cumsum(thetas[:-1] * deltas)


def phase_times(occ_inf, thetas, occ):
    """w (M,): the expected time in each phase under the epochs, O(∞) / θ_last + Σ_e
    (1/θ_(e-1) - 1/θ_e) o(u_e), from the phases' occupations ``occ`` (E - 1, M) at the clock
    starts (numpy or JAX arrays alike)."""
    w = occ_inf / thetas[-1]
    if thetas.shape[0] > 1:
        w = w + (1.0 / thetas[:-1] - 1.0 / thetas[1:]) @ occ
    return w


def clock_residence(
    cx: ClockCoxian, n: int, thetas: np.ndarray, deltas: np.ndarray, max_steps: int
) -> np.ndarray | None:
    """τ (n,): the expected time in each transient state under θ_e (E,) from the epochs'
    lengths ``deltas`` (E - 1,) (module docstring); None where a θ is not a positive finite
    number or a series would pass max_steps (the general path then answers or reports)."""
    t = np.asarray(thetas, dtype=float)
    if not np.all(np.isfinite(t) & (t > 0)):
        return None
    u = clock_starts(t, np.asarray(deltas, dtype=float), np)
    M = cx.occ_inf.size
    occ, x = np.empty((u.size, M)), np.empty((u.size, M))
    if u.size and not _core.coxian_state(cx.rates, cx.mass0, u, occ, x, max_steps):
        return None
    w = phase_times(cx.occ_inf, t, occ)
    tau = np.zeros(n)
    np.add.at(tau, cx.idx, cx.nu * np.repeat(w, np.diff(cx.start)))
    return tau
