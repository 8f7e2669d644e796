"""Eager distribution functions of `Graph`: pdf/cdf/survival, state probabilities, discrete pmf.

Shapes follow `GraphNumerics`: ``theta`` (p,) or a batch (B, p) adds a leading axis; ``times`` a
scalar or (T,) array. Time-inhomogeneous models take piecewise-constant parameters: ``theta`` of
shape (n_epochs, p) with ``epochs`` the increasing start times (the first must be 0); the state
distribution is carried across epoch boundaries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import ParameterError
from .._typing import ArrayLike, FloatArray, Theta
from . import _series
from ._kernels import initial_distribution

if TYPE_CHECKING:
    from ._graph import Graph

__all__ = ["GraphDistributions"]

DEFAULT_TOL = 1e-12


class GraphDistributions:
    """Mixin: distribution functions of continuous and discrete phase-type graphs."""

    # ------------------------------------------------------------------ helpers
    def _epoch_plan(self: Graph, theta: Theta | None, epochs: ArrayLike | None):
        """(ga, list of (θ (1, p), start time), batched) for the epochs (one epoch if None)."""
        ga = self.compile()
        if epochs is None:
            th = self._resolve_theta(theta)
            batched = theta is not None and np.ndim(theta) == 2
            return ga, th, None, batched
        ep = np.asarray(epochs, dtype=np.float64)
        if ep.ndim != 1 or ep.size == 0 or ep[0] != 0 or np.any(np.diff(ep) <= 0):
            raise ParameterError(
                f"epochs = {np.asarray(epochs).tolist()} must be increasing start times beginning "
                "at 0, e.g. epochs=[0, t1]"
            )
        if theta is None:
            raise ParameterError("with epochs, pass theta=[θ_0, θ_1, ...]: one θ per epoch")
        th = np.asarray(theta, dtype=np.float64)
        if th.ndim != 2 or th.shape[0] != ep.size:
            raise ParameterError(
                f"with {ep.size} epochs, theta must have shape ({ep.size}, p); got {th.shape}"
            )
        ths = [self._resolve_theta(row) for row in th]
        return ga, ths, ep, False

    def _by_epoch(self: Graph, theta, epochs, times: FloatArray, fn, tol: float):
        """Evaluate fn(θ, α, local times) per epoch; returns (B, T, ...) and the batched flag."""
        ga, th, ep, batched = self._epoch_plan(theta, epochs)
        if ep is None:
            alpha, _ = initial_distribution(ga, th)
            return fn(ga, th, alpha, times), batched
        alpha, _ = initial_distribution(ga, th[0])
        which = np.searchsorted(ep, times, side="right") - 1
        out = None
        for e in range(ep.size):
            sel = np.flatnonzero(which == e)
            if sel.size:
                vals = fn(ga, th[e], alpha, np.ascontiguousarray(times[sel] - ep[e]))
                if out is None:
                    out = np.zeros((1, times.size) + vals.shape[2:])
                out[:, sel] = vals
            if e + 1 < ep.size:
                span = np.array([ep[e + 1] - ep[e]])
                alpha = _series.series_state(ga, th[e], alpha, span, discrete=False, tol=tol)[:, 0]
        return out, False

    def _continuous(self: Graph, times, theta, epochs, tol: float, density: bool):
        """Density or survival of a continuous model at ``times``, with epochs."""
        t = _series.check_times(times)

        def fn(ga, th, alpha, tt):
            return _series.series(ga, th, alpha, tt, discrete=False, density=density, tol=tol)

        out, batched = self._by_epoch(theta, epochs, t, fn, tol)
        return self._finish(out, batched, np.ndim(times) == 0)

    @staticmethod
    def _finish(out: FloatArray, batched: bool, scalar_t: bool) -> Any:
        if scalar_t:
            out = out[:, 0]
        if not batched:
            out = out[0]
        return out[()] if isinstance(out, np.ndarray) and out.ndim == 0 else out

    # ------------------------------------------------------------------ continuous
    def pdf(
        self: Graph,
        times: ArrayLike,
        theta: Theta | None = None,
        epochs: ArrayLike | None = None,
        tol: float = DEFAULT_TOL,
    ):
        """Density of the absorption time, by uniformization.

        Parameters
        ----------
        times : float or (T,) array, >= 0
        theta : (p,), (B, p), or (n_epochs, p) with ``epochs``
        epochs : (n_epochs,) increasing start times from 0, optional
        tol : float
            Bound on both the absolute and the relative error of every value.

        Returns
        -------
        float64 array of shape ([B,] T) (a scalar per row for scalar ``times``)
        """
        return self._continuous(times, theta, epochs, tol, density=True)

    def survival(
        self: Graph,
        times: ArrayLike,
        theta: Theta | None = None,
        epochs: ArrayLike | None = None,
        tol: float = DEFAULT_TOL,
    ):
        """P(T > t), shape ([B,] T); ``tol`` bounds absolute and relative error (far tails)."""
        return self._continuous(times, theta, epochs, tol, density=False)

    def cdf(
        self: Graph,
        times: ArrayLike,
        theta: Theta | None = None,
        epochs: ArrayLike | None = None,
        tol: float = DEFAULT_TOL,
    ):
        """P(T <= t) = 1 - survival, shape ([B,] T); a defect is absorbed at time 0."""
        return 1.0 - np.asarray(self.survival(times, theta, epochs, tol))

    def stop_probability(
        self: Graph,
        times: ArrayLike,
        theta: Theta | None = None,
        epochs: ArrayLike | None = None,
        tol: float = DEFAULT_TOL,
    ):
        """Probability of being in each vertex at time t, shape ([B,] [T,] vertices_length())."""
        t = _series.check_times(times)

        def fn(ga, th, alpha, tt):
            return _series.series_state(ga, th, alpha, tt, discrete=False, tol=tol)

        out, batched = self._by_epoch(theta, epochs, t, fn, tol)
        return self._finish(self._to_vertices(self.compile(), out), batched, np.ndim(times) == 0)

    def accumulated_visiting_time(
        self: Graph, times: ArrayLike, theta: Theta | None = None, tol: float = DEFAULT_TOL
    ):
        """Expected time spent in each vertex during [0, t], shape ([B,] [T,] vertices_length()).

        Computed exactly as (α - π(t)) (-S)^{-1} from the state distribution π(t).
        """
        t = _series.check_times(times)
        ga, th, _, batched = self._epoch_plan(theta, None)
        alpha, _ = initial_distribution(ga, th)
        state = _series.series_state(ga, th, alpha, t, discrete=False, tol=tol)
        acc = _series.accumulated_time(ga, th, alpha, state)
        return self._finish(self._to_vertices(ga, acc), batched, np.ndim(times) == 0)

    # ------------------------------------------------------------------ discrete
    def _discrete(self: Graph, jumps, theta, density: bool):
        k = _series.check_jumps(jumps)
        ga = self.compile()
        th = self._resolve_theta(theta)
        batched = theta is not None and np.ndim(theta) == 2
        alpha, total = initial_distribution(ga, th)
        out = _series.series(ga, th, alpha, k, discrete=True, density=density)
        if density:  # P(τ = 0) is the defect: start edges into absorbing vertices
            w = ga.start_weights(th)[:, ga.start_indices == ga.n_transient].sum(axis=1)
            out[:, k == 0] = (w / total)[:, None]
        return out, batched

    def pmf_discrete(self: Graph, jumps: ArrayLike, theta: Theta | None = None):
        """P(τ = k) of a discrete model, shape ([B,] K); ``jumps`` non-negative integers."""
        out, batched = self._discrete(jumps, theta, density=True)
        return self._finish(out, batched, np.ndim(jumps) == 0)

    def cdf_discrete(self: Graph, jumps: ArrayLike, theta: Theta | None = None):
        """P(τ <= k) of a discrete model, shape ([B,] K)."""
        out, batched = self._discrete(jumps, theta, density=False)
        return self._finish(1.0 - out, batched, np.ndim(jumps) == 0)

    def stop_probability_discrete(self: Graph, jumps: ArrayLike, theta: Theta | None = None):
        """Probability of being in each vertex after k jumps, shape ([B,] [K,] vertices_length())."""
        k = _series.check_jumps(jumps)
        ga = self.compile()
        th = self._resolve_theta(theta)
        batched = theta is not None and np.ndim(theta) == 2
        alpha, _ = initial_distribution(ga, th)
        out = _series.series_state(ga, th, alpha, k, discrete=True)
        return self._finish(self._to_vertices(ga, out), batched, np.ndim(jumps) == 0)
