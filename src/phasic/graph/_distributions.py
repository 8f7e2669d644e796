"""Distributions of a phase-type model: density, survival, cdf, state probabilities and
accumulated times (continuous, by uniformization, with epochs), and their discrete counterparts
(a mixin of `PhaseTypeModel`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._settings import DEFAULT_MAX_STEPS, DEFAULT_TOL
from .._typing import ArrayLike, FloatArray, Theta
from . import _series
from ._epochs import by_epoch, defect, epoch_plan, flows_into
from ._native import initial_distribution

if TYPE_CHECKING:
    from ._model import PhaseTypeModel

__all__ = ["Distributions"]


class Distributions:
    """Methods of `PhaseTypeModel` for distributions at given times or jump counts."""

    def _continuous(  # type: ignore[misc]
        self: PhaseTypeModel,
        times,
        theta,
        epochs,
        tol: float,
        kind: str,
        max_steps: int,
        log: bool = False,
    ):
        """Density, survival or cdf of a continuous model at ``times``, with epochs; ``log``:
        natural logs in log space (without epochs; with them, the log of the value)."""
        if log and epochs is not None:
            with np.errstate(divide="ignore"):
                return np.log(self._continuous(times, theta, epochs, tol, kind, max_steps))
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
                log=log,
            )

        out, batched = by_epoch(self, theta, epochs, t, fn, tol, max_steps, kind == "cdf")
        return self._finish(out, batched, np.ndim(times) == 0)

    @staticmethod
    def _finish(out: FloatArray, batched: bool, scalar_t: bool) -> Any:
        if scalar_t:
            out = out[:, 0]
        if not batched:
            out = out[0]
        return out[()] if isinstance(out, np.ndarray) and out.ndim == 0 else out

    # ------------------------------------------------------------------ continuous
    def pdf(  # type: ignore[misc]
        self: PhaseTypeModel,
        times: ArrayLike,
        theta: Theta | None = None,
        epochs: ArrayLike | None = None,
        tol: float = DEFAULT_TOL,
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> FloatArray | float:
        """Density of the absorption time, by uniformization.

        Parameters
        ----------
        times : float or (T,) array, >= 0
        theta : (p,), (B, p), or (n_epochs, p) with ``epochs``
        epochs : (n_epochs,) increasing start times from 0, optional
        tol : float
            Bound on the truncation error of every value, both absolute and relative to the
            value. Rounding adds up to about ``1e-16 · λt`` relative (λ the largest total
            out-rate, t the time): values stay relative-accurate in far tails, down to the
            smallest normal double (~2.2e-308); `log_pdf` goes on from there.
        max_steps : int
            Most uniformization steps (about λ · max(times)) a call may take; beyond it a clear
            error. Work grows with the steps, memory does not.

        Returns
        -------
        float64 array of shape ([B,] T) (a scalar per row for scalar ``times``)
        """
        return self._continuous(times, theta, epochs, tol, "density", max_steps)

    def survival(  # type: ignore[misc]
        self: PhaseTypeModel,
        times: ArrayLike,
        theta: Theta | None = None,
        epochs: ArrayLike | None = None,
        tol: float = DEFAULT_TOL,
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> FloatArray | float:
        """P(T > t), shape ([B,] T), in [0, 1]; accurate relative to itself (see `pdf`)."""
        return self._continuous(times, theta, epochs, tol, "survival", max_steps)

    def log_pdf(  # type: ignore[misc]
        self: PhaseTypeModel,
        times: ArrayLike,
        theta: Theta | None = None,
        epochs: ArrayLike | None = None,
        tol: float = DEFAULT_TOL,
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> FloatArray | float:
        """log of the density, shape ([B,] T), computed in log space: exact (relative error
        ``tol`` of the density) in tails far below 1e-308, where `pdf` underflows to 0
        (-inf where the density is 0). With ``epochs``: the log of `pdf`."""
        return self._continuous(times, theta, epochs, tol, "density", max_steps, log=True)

    def log_survival(  # type: ignore[misc]
        self: PhaseTypeModel,
        times: ArrayLike,
        theta: Theta | None = None,
        epochs: ArrayLike | None = None,
        tol: float = DEFAULT_TOL,
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> FloatArray | float:
        """log P(T > t), shape ([B,] T), in log space (see `log_pdf`)."""
        return self._continuous(times, theta, epochs, tol, "survival", max_steps, log=True)

    def cdf(  # type: ignore[misc]
        self: PhaseTypeModel,
        times: ArrayLike,
        theta: Theta | None = None,
        epochs: ArrayLike | None = None,
        tol: float = DEFAULT_TOL,
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> FloatArray | float:
        """P(T <= t), shape ([B,] T), in [0, 1]; a defect is absorbed at time 0.

        Summed from the absorbed mass (not 1 - survival), so it is accurate relative to itself
        in the left tail as well (see `pdf`).
        """
        return self._continuous(times, theta, epochs, tol, "cdf", max_steps)

    def stop_probability(  # type: ignore[misc]
        self: PhaseTypeModel,
        times: ArrayLike,
        theta: Theta | None = None,
        epochs: ArrayLike | None = None,
        tol: float = DEFAULT_TOL,
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> FloatArray | float:
        """Probability of being in each vertex at time t, shape ([B,] [T,] vertices_length()).

        Transient vertices: the state distribution. Absorbing vertices: the probability of having
        been absorbed there by time t (defect included). The start vertex: 0. Every component is
        accurate relative to itself, whatever other times the call holds (full Poisson windows).
        """
        t = _series.check_times(times)
        ga, th, ep, batched = epoch_plan(self, theta, epochs)
        thetas, starts = ([th], np.zeros(1)) if ep is None else (th, ep)
        counts, src, dst, base, coef = self._edge_arrays()
        absorbing = np.flatnonzero(counts == 0)
        absorbing = absorbing[absorbing != 0]
        alpha, total = initial_distribution(ga, thetas[0])
        # Absorbed mass per absorbing vertex: the start edges into it, plus the time spent in each
        # transient vertex times its rate into it, carried across epochs.
        carried = flows_into(absorbing, src == 0, dst, base, coef, thetas[0]) / total[:, None]
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
            kw: dict[str, Any] = dict(discrete=False, tol=tol, max_steps=max_steps)
            state = _series.series_state(ga, th_e, alpha, span, **kw)
            acc = _series.series_state(ga, th_e, alpha, span, accumulated=True, **kw)
            flows = flows_into(absorbing, inner, dst, base, coef, th_e, row[src], ga.n_transient)
            absorbed = carried[:, None, :] + np.einsum("btn,bna->bta", acc, flows)
            out[:, sel[:, None], ga.vertex_index] = state[:, : sel.size]
            out[:, sel[:, None], absorbing] = absorbed[:, : sel.size]
            if not last:
                alpha, carried = state[:, -1], absorbed[:, -1]
        return self._finish(out, batched, np.ndim(times) == 0)

    def accumulated_visiting_time(  # type: ignore[misc]
        self: PhaseTypeModel,
        times: ArrayLike,
        theta: Theta | None = None,
        tol: float = DEFAULT_TOL,
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> FloatArray | float:
        """Expected time spent in each vertex during [0, t], shape ([B,] [T,] vertices_length()).

        Summed as (1/λ) Σ_k Pois(k; λt) (u_0 + … + u_(k-1)) with u_k = α P^k: non-negative terms,
        so every component is accurate relative to itself (not (α - π(t)) U, which cancels).
        """
        t = _series.check_times(times)
        ga, th, _, batched = epoch_plan(self, theta, None)
        alpha, _ = initial_distribution(ga, th)
        acc = _series.series_state(
            ga, th, alpha, t, discrete=False, accumulated=True, tol=tol, max_steps=max_steps
        )
        return self._finish(self._to_vertices(ga, acc), batched, np.ndim(times) == 0)

    # ------------------------------------------------------------------ discrete
    def _discrete(self: PhaseTypeModel, jumps, theta, kind: str):  # type: ignore[misc]
        k = _series.check_jumps(jumps)
        ga = self.compile()
        th = self._resolve_theta(theta)
        batched = theta is not None and np.ndim(theta) == 2
        alpha, _ = initial_distribution(ga, th)
        d0 = defect(ga, th)
        out = _series.series(ga, th, alpha, k, discrete=True, kind=kind, defect=d0)
        if kind == "density":  # P(τ = 0) is the defect: start edges into absorbing vertices
            out[:, k == 0] = d0[:, None]
        return out, batched

    def pmf_discrete(  # type: ignore[misc]
        self: PhaseTypeModel, jumps: ArrayLike, theta: Theta | None = None
    ) -> FloatArray | float:
        """P(τ = k) of a discrete model, shape ([B,] K); ``jumps`` non-negative integers."""
        out, batched = self._discrete(jumps, theta, "density")
        return self._finish(out, batched, np.ndim(jumps) == 0)

    def cdf_discrete(  # type: ignore[misc]
        self: PhaseTypeModel, jumps: ArrayLike, theta: Theta | None = None
    ) -> FloatArray | float:
        """P(τ <= k) of a discrete model, shape ([B,] K): a sum of non-negative terms (accurate
        relative to itself in the left tail)."""
        out, batched = self._discrete(jumps, theta, "cdf")
        return self._finish(out, batched, np.ndim(jumps) == 0)

    def survival_discrete(  # type: ignore[misc]
        self: PhaseTypeModel, jumps: ArrayLike, theta: Theta | None = None
    ) -> FloatArray | float:
        """P(τ > k) of a discrete model, shape ([B,] K): α P^k 1, accurate relative to itself in
        the right tail (not 1 - cdf)."""
        out, batched = self._discrete(jumps, theta, "survival")
        return self._finish(out, batched, np.ndim(jumps) == 0)

    def stop_probability_discrete(  # type: ignore[misc]
        self: PhaseTypeModel, jumps: ArrayLike, theta: Theta | None = None
    ) -> FloatArray | float:
        """Probability of being in each transient vertex after k jumps, shape
        ([B,] [K,] vertices_length()); absorbing and start vertices hold 0."""
        k = _series.check_jumps(jumps)
        ga = self.compile()
        th = self._resolve_theta(theta)
        batched = theta is not None and np.ndim(theta) == 2
        alpha, _ = initial_distribution(ga, th)
        out = _series.series_state(ga, th, alpha, k, discrete=True)
        return self._finish(self._to_vertices(ga, out), batched, np.ndim(jumps) == 0)
