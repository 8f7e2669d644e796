"""numpy front of the distribution kernels (uniformization / matrix powers), with epochs.

Continuous densities use uniformization (see ``src/cpp/series.cpp``): every time point shares one
sweep, each stops at its own truncation point, and ``tol`` bounds both the absolute and the
relative truncation error of each value. Discrete models use powers of the sub-transition matrix.
"""

from __future__ import annotations

import numpy as np

from .._errors import ParameterError
from .._settings import DEFAULT_MAX_STEPS, check_max_steps, check_tol
from .._typing import FloatArray
from ._arrays import GraphArrays
from ._native import raise_status

__all__ = [
    "DEFAULT_MAX_STEPS",
    "check_jumps",
    "check_max_steps",
    "check_times",
    "check_tol",
    "series",
    "series_state",
]


def check_times(times, name: str = "times") -> FloatArray:
    try:
        t = np.asarray(times, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name} = {times!r:.80} must be numbers (a scalar or 1-D)") from exc
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


_KINDS = {"density": 0, "survival": 1, "cdf": 2}


def series(
    ga: GraphArrays,
    theta: FloatArray,
    alpha: FloatArray,
    times: FloatArray,
    *,
    discrete: bool,
    kind: str,
    tol: float = 1e-12,
    defect: FloatArray | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    log: bool = False,
) -> FloatArray:
    """Density, survival or cdf (``kind``) at each time, shape (B, T), for alpha (B, n).

    For the cdf, ``defect`` (B,) is the mass already absorbed at time 0 (default 1 - sum(alpha)).
    ``log``: natural logs of the density or survival, exact far below 1e-308.
    """
    out = np.empty((theta.shape[0], times.shape[0]))
    alpha = np.ascontiguousarray(alpha, dtype=np.float64)
    if defect is None:
        defect = np.clip(1.0 - alpha.sum(axis=1), 0.0, 1.0)
    defect = np.ascontiguousarray(np.broadcast_to(defect, (theta.shape[0],)), dtype=np.float64)
    max_steps = check_max_steps(max_steps)
    st = ga.native.series(
        theta,
        alpha,
        times,
        defect,
        out,
        discrete,
        _KINDS[kind],
        check_tol(tol),
        max_steps,
        log,
    )
    raise_status(ga, theta, st, times, max_steps)
    return out


def series_state(
    ga: GraphArrays,
    theta: FloatArray,
    alpha: FloatArray,
    times: FloatArray,
    *,
    discrete: bool,
    accumulated: bool = False,
    tol: float = 1e-12,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> FloatArray:
    """State distribution over transient vertices at each time, shape (B, T, n).

    With ``accumulated`` (continuous), the expected time spent in each vertex during [0, t].
    Each component is accurate relative to itself (full Poisson windows).
    """
    out = np.empty((theta.shape[0], times.shape[0], ga.n_transient))
    max_steps = check_max_steps(max_steps)
    st = ga.native.series_state(
        theta,
        np.ascontiguousarray(alpha, dtype=np.float64),
        times,
        out,
        discrete,
        accumulated,
        check_tol(tol),
        max_steps,
    )
    raise_status(ga, theta, st, times, max_steps)
    return out
