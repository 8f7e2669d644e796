"""numpy front of the distribution kernels (uniformization / matrix powers), with epochs.

Continuous densities use uniformization with Fox–Glynn-style truncation bounds (see
``src/cpp/series.cpp``): every time point shares one sweep and ``tol`` bounds both the absolute and
the relative error of each value. Discrete models use powers of the sub-transition matrix.
"""

from __future__ import annotations

import numpy as np

from .. import _core
from .._errors import ParameterError
from .._typing import FloatArray
from ._arrays import GraphArrays
from ._kernels import raise_status, solve

__all__ = ["check_jumps", "check_times", "series", "series_state", "series_vjp"]


def check_times(times, name: str = "times") -> FloatArray:
    t = np.asarray(times, dtype=np.float64)
    if t.ndim > 1:
        raise ParameterError(f"{name} must be a scalar or 1-D array, got shape {t.shape}")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        bad = t[~(np.isfinite(t) & (t >= 0))].ravel()[0]
        raise ParameterError(f"{name} must be finite and >= 0; got {bad}")
    return np.ascontiguousarray(np.atleast_1d(t))


def check_jumps(jumps, name: str = "jumps") -> FloatArray:
    k = np.asarray(jumps)
    if k.ndim > 1:
        raise ParameterError(f"{name} must be a scalar or 1-D array, got shape {k.shape}")
    kf = np.asarray(k, dtype=np.float64)
    if not np.all(np.isfinite(kf)) or np.any(kf < 0) or np.any(kf != np.round(kf)):
        raise ParameterError(f"{name} must be non-negative integers; got {np.asarray(k).tolist()}")
    return np.ascontiguousarray(np.atleast_1d(kf))


def _check_tol(tol: float) -> float:
    if not (np.isfinite(tol) and 0 < tol < 1):
        raise ParameterError(f"tol = {tol!r} must be in (0, 1), e.g. 1e-12")
    return float(tol)


def _raise(ga: GraphArrays, theta: FloatArray, status) -> None:
    code, where, b = status
    if code == 4:
        raise ParameterError(
            f"discrete model: out-probabilities of state {ga.states[where].tolist()} sum to > 1 "
            f"at θ = {theta[b].tolist()}; weights of a discrete model are jump probabilities"
        )
    if code == 5:
        raise ParameterError(
            "the uniformization series needs more than 2e7 steps: the largest rate times the "
            "largest time is too large; rescale time or evaluate fewer far-tail points"
        )
    raise_status(ga, theta, status)


def series(
    ga: GraphArrays,
    theta: FloatArray,
    alpha: FloatArray,
    times: FloatArray,
    *,
    discrete: bool,
    density: bool,
    tol: float = 1e-12,
) -> FloatArray:
    """Density (``density=True``) or survival at each time, shape (B, T), for alpha (B, n)."""
    out = np.empty((theta.shape[0], times.shape[0]))
    alpha = np.ascontiguousarray(alpha, dtype=np.float64)
    st = _core.series(
        *ga.kernel_args(), theta, alpha, times, out, discrete, density, _check_tol(tol)
    )
    _raise(ga, theta, st)
    return out


def series_vjp(
    ga: GraphArrays,
    theta: FloatArray,
    alpha: FloatArray,
    times: FloatArray,
    gout: FloatArray,
    *,
    discrete: bool,
    density: bool,
    tol: float = 1e-12,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Cotangents (dθ (B, p), dα (B, n), dtimes (B, T)) of ``sum(gout * series(...))``."""
    B = theta.shape[0]
    dth = np.empty((B, ga.param_length))
    dal = np.empty((B, ga.n_transient))
    dt = np.empty((B, times.shape[0]))
    st = _core.series_vjp(
        *ga.kernel_args(),
        theta,
        np.ascontiguousarray(alpha, dtype=np.float64),
        times,
        np.ascontiguousarray(gout, dtype=np.float64),
        dth,
        dal,
        dt,
        discrete,
        density,
        _check_tol(tol),
    )
    _raise(ga, theta, st)
    return dth, dal, dt


def series_state(
    ga: GraphArrays,
    theta: FloatArray,
    alpha: FloatArray,
    times: FloatArray,
    *,
    discrete: bool,
    tol: float = 1e-12,
) -> FloatArray:
    """State distribution over transient vertices at each time, shape (B, T, n)."""
    out = np.empty((theta.shape[0], times.shape[0], ga.n_transient))
    st = _core.series_state(
        *ga.kernel_args(),
        theta,
        np.ascontiguousarray(alpha, dtype=np.float64),
        times,
        out,
        discrete,
        _check_tol(tol),
    )
    _raise(ga, theta, st)
    return out


def accumulated_time(
    ga: GraphArrays, theta: FloatArray, alpha: FloatArray, state: FloatArray
) -> FloatArray:
    """∫_0^t π(s) ds = (α - π(t)) A^{-1}, from the state π(t) of shape (B, T, n); (B, T, n)."""
    rhs = np.moveaxis(alpha[:, None, :] - state, 2, 0)  # (n, B, T)
    return np.moveaxis(solve(ga, theta, rhs, transpose=True), 0, 2)
