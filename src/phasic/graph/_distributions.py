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
from ._arrays import edge_arrays
from ._kernels import initial_distribution

if TYPE_CHECKING:
    from ._graph import Graph

__all__ = ["GraphDistributions"]

DEFAULT_TOL = 1e-12
DEFAULT_MAX_STEPS = _series.DEFAULT_MAX_STEPS


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

    def _by_epoch(
        self: Graph, theta, epochs, times: FloatArray, fn, tol: float, max_steps: int, cdf: bool
    ):
        """Evaluate fn(ga, θ, α, absorbed, local times) per epoch; returns (B, T, ...), batched.

        With ``cdf``, ``absorbed`` (B,) is the probability of absorption before the epoch starts
        (the defect at the first), carried as a sum of non-negative terms so left-tail cdfs stay
        relative; otherwise it is not computed (None).
        """
        ga, th, ep, batched = self._epoch_plan(theta, epochs)
        if ep is None:
            alpha, _ = initial_distribution(ga, th)
            return fn(ga, th, alpha, self._defect(ga, th) if cdf else None, times), batched
        alpha, _ = initial_distribution(ga, th[0])
        absorbed = self._defect(ga, th[0]) if cdf else None
        which = np.searchsorted(ep, times, side="right") - 1
        out = None
        for e in range(ep.size):
            sel = np.flatnonzero(which == e)
            if sel.size:
                vals = fn(ga, th[e], alpha, absorbed, np.ascontiguousarray(times[sel] - ep[e]))
                if out is None:
                    out = np.zeros((1, times.size) + vals.shape[2:])
                out[:, sel] = vals
            if e + 1 < ep.size:
                span = np.array([ep[e + 1] - ep[e]])
                if cdf:
                    absorbed = _series.series(
                        ga,
                        th[e],
                        alpha,
                        span,
                        discrete=False,
                        kind="cdf",
                        tol=tol,
                        defect=absorbed,
                        max_steps=max_steps,
                    )[:, 0]
                alpha = _series.series_state(
                    ga, th[e], alpha, span, discrete=False, tol=tol, max_steps=max_steps
                )[:, 0]
        return out, False

    @staticmethod
    def _defect(ga, th: FloatArray) -> FloatArray:
        """Probability (B,) of absorption at time 0: start weight into absorption / total."""
        w = ga.start_weights(th)
        return w[:, ga.start_indices == ga.n_transient].sum(axis=1) / w.sum(axis=1)

    def _continuous(self: Graph, times, theta, epochs, tol: float, kind: str, max_steps: int):
        """Density, survival or cdf of a continuous model at ``times``, with epochs."""
        t = _series.check_times(times)

        def fn(ga, th, alpha, absorbed, tt):
            return _series.series(
                ga,
                th,
                alpha,
                tt,
                discrete=False,
                kind=kind,
                tol=tol,
                defect=absorbed,
                max_steps=max_steps,
            )

        out, batched = self._by_epoch(theta, epochs, t, fn, tol, max_steps, kind == "cdf")
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
        max_steps: int = DEFAULT_MAX_STEPS,
    ):
        """Density of the absorption time, by uniformization.

        Parameters
        ----------
        times : float or (T,) array, >= 0
        theta : (p,), (B, p), or (n_epochs, p) with ``epochs``
        epochs : (n_epochs,) increasing start times from 0, optional
        tol : float
            Bound on the truncation error of every value, both absolute and relative to the
            value. Rounding adds up to about ``1e-16 · λt`` relative (λ the largest total
            out-rate, t the time): values stay relative-accurate in far tails, down to ~1e-290.
        max_steps : int
            Most uniformization steps (about λ · max(times)) a call may take; beyond it a clear
            error. Work grows with the steps, memory does not.

        Returns
        -------
        float64 array of shape ([B,] T) (a scalar per row for scalar ``times``)
        """
        return self._continuous(times, theta, epochs, tol, "density", max_steps)

    def survival(
        self: Graph,
        times: ArrayLike,
        theta: Theta | None = None,
        epochs: ArrayLike | None = None,
        tol: float = DEFAULT_TOL,
        max_steps: int = DEFAULT_MAX_STEPS,
    ):
        """P(T > t), shape ([B,] T), in [0, 1]; accurate relative to itself (see `pdf`)."""
        return self._continuous(times, theta, epochs, tol, "survival", max_steps)

    def cdf(
        self: Graph,
        times: ArrayLike,
        theta: Theta | None = None,
        epochs: ArrayLike | None = None,
        tol: float = DEFAULT_TOL,
        max_steps: int = DEFAULT_MAX_STEPS,
    ):
        """P(T <= t), shape ([B,] T), in [0, 1]; a defect is absorbed at time 0.

        Summed from the absorbed mass (not 1 - survival), so it is accurate relative to itself
        in the left tail as well (see `pdf`).
        """
        return self._continuous(times, theta, epochs, tol, "cdf", max_steps)

    def stop_probability(
        self: Graph,
        times: ArrayLike,
        theta: Theta | None = None,
        epochs: ArrayLike | None = None,
        tol: float = DEFAULT_TOL,
        max_steps: int = DEFAULT_MAX_STEPS,
    ):
        """Probability of being in each vertex at time t, shape ([B,] [T,] vertices_length()).

        Transient vertices: the state distribution. Absorbing vertices: the probability of having
        been absorbed there by time t (defect included). The start vertex: 0. Every component is
        accurate relative to itself, whatever other times the call holds (full Poisson windows).
        """
        t = _series.check_times(times)
        ga, th, ep, batched = self._epoch_plan(theta, epochs)
        thetas, starts = ([th], np.zeros(1)) if ep is None else (th, ep)
        counts, src, dst, base, coef = edge_arrays(self)
        absorbing = np.flatnonzero(counts == 0)
        absorbing = absorbing[absorbing != 0]
        alpha, total = initial_distribution(ga, thetas[0])
        # Absorbed mass per absorbing vertex: the start edges into it, plus the time spent in each
        # transient vertex times its rate into it, carried across epochs.
        carried = self._flows_into(absorbing, src == 0, dst, base, coef, thetas[0]) / total[:, None]
        row = np.full(self.vertices_length(), -1)
        row[ga.vertex_index] = np.arange(ga.n_transient)
        inner = row[src] >= 0
        out = np.zeros((alpha.shape[0], t.size, self.vertices_length()))
        which = np.searchsorted(starts, t, side="right") - 1
        for e, th_e in enumerate(thetas):
            sel = np.flatnonzero(which == e)
            last = e + 1 == len(thetas)
            # the epoch's own time points, then (to carry on) its end
            span = np.r_[t[sel] - starts[e], [] if last else [starts[e + 1] - starts[e]]]
            span = np.ascontiguousarray(span)
            kw = dict(discrete=False, tol=tol, max_steps=max_steps)
            state = _series.series_state(ga, th_e, alpha, span, **kw)
            acc = _series.series_state(ga, th_e, alpha, span, accumulated=True, **kw)
            flows = self._flows_into(
                absorbing, inner, dst, base, coef, th_e, row[src], ga.n_transient
            )
            absorbed = carried[:, None, :] + np.einsum("btn,bna->bta", acc, flows)
            out[:, sel[:, None], ga.vertex_index] = state[:, : sel.size]
            out[:, sel[:, None], absorbing] = absorbed[:, : sel.size]
            if not last:
                alpha, carried = state[:, -1], absorbed[:, -1]
        return self._finish(out, batched, np.ndim(times) == 0)

    @staticmethod
    def _flows_into(targets, keep, dst, base, coef, th, src_row=None, n=None) -> FloatArray:
        """Summed weights of the ``keep`` edges into each vertex of ``targets`` at θ (B, p):
        (B, A), or (B, n, A) by source row ``src_row`` (transient vertices in compiled order)."""
        col = np.full(max(dst.max(initial=-1), targets.max(initial=-1)) + 1, -1)
        col[targets] = np.arange(targets.size)
        keep = keep & (col[dst] >= 0)
        w = base[keep][None, :] + th @ coef[keep].T  # (B, E')
        if src_row is None:
            out = np.zeros((th.shape[0], targets.size))
            np.add.at(out, (slice(None), col[dst[keep]]), w)
            return out
        out = np.zeros((th.shape[0], n, targets.size))
        np.add.at(out, (slice(None), src_row[keep], col[dst[keep]]), w)
        return out

    def accumulated_visiting_time(
        self: Graph,
        times: ArrayLike,
        theta: Theta | None = None,
        tol: float = DEFAULT_TOL,
        max_steps: int = DEFAULT_MAX_STEPS,
    ):
        """Expected time spent in each vertex during [0, t], shape ([B,] [T,] vertices_length()).

        Summed as (1/λ) Σ_k Pois(k; λt) (u_0 + … + u_(k-1)) with u_k = α P^k: non-negative terms,
        so every component is accurate relative to itself (not (α - π(t)) U, which cancels).
        """
        t = _series.check_times(times)
        ga, th, _, batched = self._epoch_plan(theta, None)
        alpha, _ = initial_distribution(ga, th)
        acc = _series.series_state(
            ga, th, alpha, t, discrete=False, accumulated=True, tol=tol, max_steps=max_steps
        )
        return self._finish(self._to_vertices(ga, acc), batched, np.ndim(times) == 0)

    # ------------------------------------------------------------------ discrete
    def _discrete(self: Graph, jumps, theta, kind: str):
        k = _series.check_jumps(jumps)
        ga = self.compile()
        th = self._resolve_theta(theta)
        batched = theta is not None and np.ndim(theta) == 2
        alpha, _ = initial_distribution(ga, th)
        defect = self._defect(ga, th)
        out = _series.series(ga, th, alpha, k, discrete=True, kind=kind, defect=defect)
        if kind == "density":  # P(τ = 0) is the defect: start edges into absorbing vertices
            out[:, k == 0] = defect[:, None]
        return out, batched

    def pmf_discrete(self: Graph, jumps: ArrayLike, theta: Theta | None = None):
        """P(τ = k) of a discrete model, shape ([B,] K); ``jumps`` non-negative integers."""
        out, batched = self._discrete(jumps, theta, "density")
        return self._finish(out, batched, np.ndim(jumps) == 0)

    def cdf_discrete(self: Graph, jumps: ArrayLike, theta: Theta | None = None):
        """P(τ <= k) of a discrete model, shape ([B,] K): a sum of non-negative terms (accurate
        relative to itself in the left tail)."""
        out, batched = self._discrete(jumps, theta, "cdf")
        return self._finish(out, batched, np.ndim(jumps) == 0)

    def survival_discrete(self: Graph, jumps: ArrayLike, theta: Theta | None = None):
        """P(τ > k) of a discrete model, shape ([B,] K): α P^k 1, accurate relative to itself in
        the right tail (not 1 - cdf)."""
        out, batched = self._discrete(jumps, theta, "survival")
        return self._finish(out, batched, np.ndim(jumps) == 0)

    def stop_probability_discrete(self: Graph, jumps: ArrayLike, theta: Theta | None = None):
        """Probability of being in each transient vertex after k jumps, shape
        ([B,] [K,] vertices_length()); absorbing and start vertices hold 0."""
        k = _series.check_jumps(jumps)
        ga = self.compile()
        th = self._resolve_theta(theta)
        batched = theta is not None and np.ndim(theta) == 2
        alpha, _ = initial_distribution(ga, th)
        out = _series.series_state(ga, th, alpha, k, discrete=True)
        return self._finish(self._to_vertices(ga, out), batched, np.ndim(jumps) == 0)
