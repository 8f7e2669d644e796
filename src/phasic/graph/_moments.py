"""Exact moments from chains of sparse solves (Bladt–Nielsen), and their adjoint gradients.

With U = A^{-1} (A = -S continuous, A = I - P discrete) and reward vector r:

* continuous: ``y_0 = 1``, ``y_j = j U (r ∘ y_{j-1})``, ``E[Y^j] = α · y_j``;
* discrete (first-step analysis): ``m_j = U b_j`` with
  ``b_j = r^j + Σ_{l=1}^{j-1} C(j, l) r^{j-l} ∘ (P m_l)`` and ``E[Y^j] = α · m_j``;
* ``E[Y_a Y_b] = α U (r_a ∘ U r_b + r_b ∘ U r_a [- r_a ∘ r_b if discrete])``.

Arrays are laid out (n, B, K): transient vertex, θ row, right-hand-side column.
"""

from __future__ import annotations

from math import factorial
from typing import NamedTuple

import numpy as np

from .._epoch_chain import epoch_moments
from .._moment_chain import moment_chain
from .._typing import FloatArray
from ._arrays import GraphArrays
from ._epochs import propagate_stack
from ._native import edge_grad, initial_distribution, matvec, solve

__all__ = [
    "MomentGradients",
    "covariance_from_variances",
    "covariance_matrix",
    "epoch_raw_moments",
    "moments_gradient",
    "raw_moments",
]


class MomentGradients(NamedTuple):
    """Raw moments with their exact gradients (adjoint sweeps).

    Attributes
    ----------
    moments : shape (k,) [+ (R,)]
        E[Y^j], j = 1..k.
    d_theta : shape (k, [R,] p)
        d E[Y^j] / d θ.
    d_rewards : shape (k, [R,] vertices_length())
        d E[Y^j] / d reward of each vertex (0 for start and absorbing vertices).

    With a θ batch every field gains a leading axis of length B.
    """

    moments: FloatArray
    d_theta: FloatArray
    d_rewards: FloatArray


def _forward(
    ga: GraphArrays, theta: FloatArray, k: int, r: FloatArray, discrete: bool
) -> list[FloatArray]:
    n, B, R = ga.n_transient, theta.shape[0], r.shape[1]
    return moment_chain(
        lambda b: solve(ga, theta, b),
        lambda x: matvec(ga, theta, x),
        r[:, None, :],
        np.ones((n, B, R)),
        k,
        discrete,
    )


def raw_moments(
    ga: GraphArrays, theta: FloatArray, k: int, r: FloatArray, discrete: bool = False
) -> FloatArray:
    """Raw moments E[Y^j], j = 1..k, shape (B, k, R), for rewards ``r`` of shape (n, R)."""
    alpha, _ = initial_distribution(ga, theta)
    ys = _forward(ga, theta, k, r, discrete)
    return np.stack([np.einsum("bn,nbr->br", alpha, y) for y in ys[1:]], axis=1)


def epoch_raw_moments(
    ga: GraphArrays,
    thetas: list[FloatArray],
    starts: FloatArray,
    k: int,
    r: FloatArray,
    tol: float,
    max_steps: int,
) -> FloatArray:
    """Raw moments (1, k, R) of a continuous model with one θ (1, p) per epoch
    (`phasic._epoch_chain`)."""
    n, R = ga.n_transient, r.shape[1]

    def chain(e: int) -> FloatArray:
        ys = moment_chain(
            lambda b: solve(ga, thetas[e], b),
            None,
            r[:, None, :],
            np.ones((n, 1, R)),
            k,
            False,
            scaled=True,
        )
        return np.stack(ys[1:], axis=2)  # (n, 1, k, R)

    def across(e: int, u: FloatArray, w: FloatArray) -> FloatArray:
        delta = float(starts[e + 1] - starts[e])
        scale = np.abs(w).max(axis=(0, 1))
        return propagate_stack(ga, thetas[e], u, delta, r, scale, tol, max_steps)

    w = epoch_moments(chain, across, len(thetas))
    alpha, _ = initial_distribution(ga, thetas[0])
    fact = np.array([factorial(j) for j in range(1, k + 1)], dtype=float)
    return np.einsum("bn,nbkr->bkr", alpha, w) * fact[None, :, None]


def covariance_from_variances(raw2, r: FloatArray) -> FloatArray:
    """Covariance matrices (B, R, R) from ``raw2(r') -> (B, 2, R')`` raw moments, read off the
    variances of the columns and of their pairwise sums: Cov(a, b) = (V(a+b) - V(a) - V(b)) / 2."""
    R = r.shape[1]
    ia, ib = np.triu_indices(R, 1)
    m = raw2(np.concatenate([r, r[:, ia] + r[:, ib]], axis=1))
    var = m[:, 1] - m[:, 0] ** 2
    cov = np.empty((m.shape[0], R, R))
    cov[:, np.arange(R), np.arange(R)] = var[:, :R]
    cov[:, ia, ib] = (var[:, R:] - var[:, ia] - var[:, ib]) / 2
    cov[:, ib, ia] = cov[:, ia, ib]
    return cov


def expected_visits(
    ga: GraphArrays, theta: FloatArray, r: FloatArray, transpose: bool = False
) -> FloatArray:
    """``U r`` (or ``U^T r``) for ``r`` of shape (n, B, R) or (n, R)."""
    if r.ndim == 2:
        r = np.broadcast_to(r[:, None, :], (ga.n_transient, theta.shape[0], r.shape[1]))
    return solve(ga, theta, r, transpose=transpose)


def covariance_matrix(
    ga: GraphArrays, theta: FloatArray, r: FloatArray, discrete: bool = False
) -> FloatArray:
    """Covariance matrix of the accumulated rewards, shape (B, R, R)."""
    B, R = theta.shape[0], r.shape[1]
    alpha, _ = initial_distribution(ga, theta)
    x = expected_visits(ga, theta, r)
    mu = np.einsum("bn,nbr->br", alpha, x)
    ia, ib = np.triu_indices(R)
    ra, rb = r[:, None, ia], r[:, None, ib]
    rhs = ra * x[:, :, ib] + rb * x[:, :, ia]
    if discrete:
        rhs = rhs - np.broadcast_to(ra * rb, rhs.shape)
    z = solve(ga, theta, rhs)
    second = np.einsum("bn,nbc->bc", alpha, z)
    cov = np.empty((B, R, R))
    cov[:, ia, ib] = second - mu[:, ia] * mu[:, ib]
    cov[:, ib, ia] = cov[:, ia, ib]
    return cov


def moments_gradient(
    ga: GraphArrays, theta: FloatArray, k: int, r: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Continuous raw moments and their exact gradients by adjoint sweeps.

    Returns
    -------
    mu : shape (B, k, R)
    d_theta : shape (B, k, R, p)
        d E[Y_r^j] / d θ.
    d_rewards : shape (B, k, R, n)
        d E[Y_r^j] / d r_i in compiled transient order.
    """
    n, B, R, p = ga.n_transient, theta.shape[0], r.shape[1], ga.param_length
    alpha, total = initial_distribution(ga, theta)
    ys = _forward(ga, theta, k, r, discrete=False)
    mu = np.stack([np.einsum("bn,nbr->br", alpha, y) for y in ys[1:]], axis=1)

    # Adjoint columns are (output order o, reward column rc), flattened to k * R.
    ybar = np.zeros((n, B, k, R))
    d_theta = np.zeros((B, k, R, p))
    d_r = np.zeros((B, k, R, n))
    rr = r[:, None, None, :]
    for j in range(k, 0, -1):
        ybar[:, :, j - 1, :] += alpha.T[:, :, None]
        s = j * solve(ga, theta, ybar.reshape(n, B, k * R), transpose=True).reshape(n, B, k, R)
        xj = np.broadcast_to((ys[j] / j)[:, :, None, :], (n, B, k, R))
        d_theta += edge_grad(ga, theta, s.reshape(n, B, k * R), xj.reshape(n, B, k * R)).reshape(
            B, k, R, p
        )
        d_r += np.einsum("nbor,nbr->born", s, ys[j - 1])
        ybar = rr * s

    # θ also moves the initial distribution α_i = w_i / W through the start edges.
    if p and ga.start_coef.size:
        ctot = ga.start_coef.sum(axis=0)
        for o in range(k):
            ypad = np.concatenate([ys[o + 1], np.zeros((1, B, R))], axis=0)[ga.start_indices]
            d_theta[:, o] += np.einsum("sbr,sp->brp", ypad, ga.start_coef) / total[:, None, None]
            d_theta[:, o] -= mu[:, o, :, None] * ctot[None, None, :] / total[:, None, None]
    return mu, d_theta, d_r
