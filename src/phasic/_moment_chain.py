"""The moment recursions of phase-type distributions, written once for numpy and JAX arrays.

With U = A^{-1} (A = -S continuous, A = I - P discrete) and reward vector r:

* continuous: ``y_0 = 1``, ``y_j = j U (r ∘ y_{j-1})``, ``E[Y^j] = α · y_j``;
* discrete (first-step analysis): ``m_j = U b_j`` with
  ``b_j = r^j + Σ_{l=1}^{j-1} C(j, l) r^{j-l} ∘ (P m_l)`` and ``E[Y^j] = α · m_j``.

The eager graph methods (`phasic.graph`) and the JAX functions (`phasic.jax`) both call
`moment_chain` with their own ``solve`` and ``matvec``.
"""

from __future__ import annotations

from collections.abc import Callable
from math import comb
from typing import Any

__all__ = ["moment_chain"]


def moment_chain(
    solve: Callable[[Any], Any],
    matvec: Callable[[Any], Any] | None,
    r: Any,
    ones: Any,
    k: int,
    discrete: bool,
    *,
    scaled: bool = False,
) -> list:
    """The vectors y_0..y_k of the moment recursions (module docstring).

    Parameters
    ----------
    solve : ``solve(b) -> U b``
    matvec : ``matvec(x) -> A x`` (discrete models only)
    r : array broadcasting against ``ones``, or None for r = 1 (no reward products)
    ones : array of ones, the shape of every y_j
    k : number of moments
    discrete : discrete (first-step) recursion instead of the continuous one
    scaled : continuous only: return z_j = y_j / j! (z_j = U (r ∘ z_{j-1})), so a caller puts the
        factorials on the moments instead of scaling an (n, R)-sized array per step
    """
    ys = [ones]
    if not discrete:
        for j in range(1, k + 1):
            y = solve(ys[-1] if r is None else r * ys[-1])
            ys.append(y if scaled else j * y)
        return ys
    if matvec is None:
        raise ValueError("the discrete recursion needs matvec")
    r = ones if r is None else r
    Pm: list[Any] = []
    for j in range(1, k + 1):
        b = ones * r**j
        for l in range(1, j):
            b = b + comb(j, l) * r ** (j - l) * Pm[l - 1]
        m = solve(b)
        ys.append(m)
        if j < k:
            Pm.append(m - matvec(m))
    return ys
