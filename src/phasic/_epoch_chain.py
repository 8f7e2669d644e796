"""Moments of piecewise-constant (epoch) models, written once for numpy and JAX arrays.

Epoch e (e = 0..E-1) runs from its start time t_e (t_0 = 0) to t_{e+1} (the last has no end)
with sub-intensity matrix S_e = -A_e. Let w_j(t) be the vector, over transient states, of
E[(reward still to come after t)^j / j! | X_t]. Within epoch e it solves (w_0 = 1)

    -d w_j / dt = S_e w_j + r ∘ w_{j-1},

so in the last epoch it is the stationary chain z_j = U (r ∘ z_{j-1}) of `moment_chain`
(``scaled=True``), and across a finite epoch of length Δ_e

    w(t_e) = z^{(e)} + exp(M_e Δ_e) (w(t_{e+1}) - z^{(e)}),

where M_e acts on the stack of orders 1..k as ``(M u)_j = S_e u_j + r ∘ u_{j-1}`` (u_0 = 0: the
difference has no order-0 part). Then E[Y^j] = j! α(θ_0) · w_j(0). The exponential is applied
by uniformization, ``exp(M Δ) u = Σ_m Pois(m; λΔ) (I + M/λ)^m u`` with λ >= every exit rate,
which keeps I + M/λ non-negative with row sums <= g = 1 + max(r)/λ (1 for k = 1; see
`tail_bound`).

Stacks are laid out ``(n, ..., k, R)``: transient state first, then any batch axes, then the
moment order and the reward column. The eager methods (`phasic.graph`) and the JAX functions
(`phasic.jax`) both call `epoch_moments` with their own ``chain`` and ``propagate``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["coupled_step", "epoch_moments", "shift_orders", "tail_bound"]


def epoch_moments(
    chain: Callable[[int], Any], propagate: Callable[[int, Any, Any], Any], n_epochs: int
) -> Any:
    """The stack w(0) (n, ..., k, R) of scaled moments at time 0 (module docstring).

    Parameters
    ----------
    chain : ``chain(e)`` -> the stationary stack z^{(e)} of epoch e
    propagate : ``propagate(e, u, w)`` -> exp(M_e Δ_e) u across the finite epoch e, where
        u = w - z^{(e)} and w = w(t_{e+1}) (its size sets the series' tolerance: the result
        is added back to z^{(e)}, which can be much larger than w)
    n_epochs : E
    """
    w = chain(n_epochs - 1)
    for e in range(n_epochs - 2, -1, -1):
        z = chain(e)
        w = z + propagate(e, w - z, w)
    return w


def shift_orders(x: Any, up: bool, xp: Any) -> Any:
    """Order j of the stack (axis -2) takes order j - 1 (j + 1 when ``up``), zero past the
    ends: the coupling of M (``up``: of Mᵀ)."""
    zero = xp.zeros_like(x[..., :1, :])
    if up:
        return xp.concatenate([x[..., 1:, :], zero], axis=-2)
    return xp.concatenate([zero, x[..., :-1, :]], axis=-2)


def coupled_step(
    matvec: Callable[[Any], Any], x: Any, r: Any, lam: Any, xp: Any, transpose: bool = False
) -> Any:
    """One uniformization step ``(I + M/λ) x`` (or ``(I + Mᵀ/λ) x``) of the coupled stack x
    (n, ..., k, R).

    ``matvec(x)`` is A x (Aᵀ x with ``transpose``) on the same layout, ``r`` broadcasts against
    x (reward per state and column, coupling coefficient included) and ``lam`` against it too
    (one λ per batch row).
    """
    if transpose:
        return x + (shift_orders(r * x, True, xp) - matvec(x)) / lam
    return x + (r * shift_orders(x, False, xp) - matvec(x)) / lam


def tail_bound(m: Any, pi_m: Any, norm_m: Any, lt: Any, g: Any, xp: Any) -> Any:
    """An upper bound on ``Σ_{i>m} π_i ||x_i||_∞`` after term m of a uniformization series.

    ``π_i`` are the Poisson(``lt`` = λΔ) weights and ``x_i = (I + M/λ)^i u``; with λ >= every
    exit rate, ``||x_{i+1}|| <= g ||x_i||`` (g = 1 + max(r)/λ, or 1 without coupling) and
    ``π_{i+1} / π_i = lt / (i + 1)``, so past ``m + 1 > g lt`` the tail is a geometric series of
    ratio ``q = g lt / (m + 1)``. Infinite while the tail may still grow.
    """
    q = g * lt / (m + 1.0)
    return xp.where(q < 1.0, pi_m * norm_m * q / xp.maximum(1.0 - q, 1e-300), xp.inf)
