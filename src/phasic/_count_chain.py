"""The joint-count recursion of several reward types, written once for numpy and JAX arrays.

Events of type a = 1..R happen at rate μ · r_a(state) until absorption. With A = -S, s the
exit rates and B = A + μ Σ_a diag(r_a), the joint probabilities are

    P(N = k) = α x_k (+ the defect at k = 0),  x_0 = B⁻¹ s,  x_k = B⁻¹ Σ_a μ r_a ∘ x_{k - e_a},

one solve per level |k| for all cells of that level. The eager graph method
(`PhaseTypeModel.joint_prob_table`) and the JAX function (`phasic.jax.counts_from_graph` with a
reward matrix) both call `joint_count_vectors` with their own ``solve`` and ``stack``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

__all__ = ["joint_count_vectors"]

Cell = tuple[int, ...]


def joint_count_vectors(
    solve: Callable[[Any], Any],
    stack: Callable[..., Any],
    exit_rates: Any,
    r: Any,
    mu: Any,
    K: int,
) -> tuple[list[Cell], Any]:
    """The cells (k_1..k_R) in [0, K]^R sorted by level, and the stack (n, cells) of x_k.

    Parameters
    ----------
    solve : ``solve(rhs (n, m)) -> B⁻¹ rhs``
    stack : ``np.stack`` or ``jnp.stack``
    exit_rates : (n,) rates into absorption
    r : (n, R) rewards
    mu : the event rate
    K : largest count per type
    """
    R = r.shape[1]
    cells = sorted(itertools.product(range(K + 1), repeat=R), key=sum)
    xs: dict[Cell, Any] = {cells[0]: solve(exit_rates[:, None])[:, 0]}
    for level in range(1, R * K + 1):
        idx = [c for c in cells if sum(c) == level]
        rhs = []
        for c in idx:
            terms = [r[:, a] * xs[c[:a] + (c[a] - 1,) + c[a + 1 :]] for a in range(R) if c[a]]
            rhs.append(mu * sum(terms[1:], terms[0]))
        sol = solve(stack(rhs, axis=1))
        xs.update({c: sol[:, i] for i, c in enumerate(idx)})
    return cells, stack([xs[c] for c in cells], axis=1)
