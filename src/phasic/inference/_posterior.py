"""Summaries of a posterior held as particles (or draws): means, spreads, intervals, exports."""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from .._errors import ParameterError, PhasicError

__all__ = ["ParticlePosterior"]


class ParticlePosterior:
    """Abstract: what a fitted sampler offers from its ``particles`` (n, theta_dim) and
    ``history`` (k, n, theta_dim), both on the natural scale. Subclasses set the two."""

    particles: np.ndarray | None = None
    history: np.ndarray | None = None
    history_every: int = 1  # iterations between the saved history rows

    def _require_fit(self) -> np.ndarray:
        if self.particles is None:
            raise PhasicError("call fit() first")
        return self.particles

    @property
    def theta_mean(self) -> np.ndarray:
        """Posterior mean, shape (theta_dim,)."""
        return self._require_fit().mean(axis=0)

    @property
    def theta_std(self) -> np.ndarray:
        """Posterior standard deviation, shape (theta_dim,)."""
        return self._require_fit().std(axis=0, ddof=1)

    def credible_interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Equal-tailed interval from the particles: (lower, upper), each (theta_dim,)."""
        if not 0 < level < 1:
            raise ParameterError(f"level = {level!r} must be in (0, 1)")
        p = self._require_fit()
        a = (1 - level) / 2 * 100
        return np.percentile(p, a, axis=0), np.percentile(p, 100 - a, axis=0)

    def summary(self, level: float = 0.95) -> str:
        """A table of posterior mean, std and credible interval per parameter."""
        lo, hi = self.credible_interval(level)
        rows = [f"{'param':>6} {'mean':>12} {'std':>12} {'lower':>12} {'upper':>12}"]
        for i, (m, s, a, b) in enumerate(zip(self.theta_mean, self.theta_std, lo, hi, strict=True)):
            rows.append(f"θ[{i}]".rjust(6) + f" {m:12.6g} {s:12.6g} {a:12.6g} {b:12.6g}")
        return "\n".join(rows)

    def plot_posterior(
        self, path: str | os.PathLike | None = None, level: float = 0.95, true_theta=None
    ) -> Any:
        """Histogram per parameter with the credible interval: the matplotlib figure, or saved
        to ``path`` (which is returned)."""
        from ._plots import plot_posterior

        return plot_posterior(self, path, level, true_theta)

    def plot_trace(self, path: str | os.PathLike | None = None, n_traces: int = 20) -> Any:
        """Particle trajectories from the history: the figure, or saved to ``path``."""
        from ._plots import plot_trace

        return plot_trace(self, path, n_traces)

    def plot_pairs(self, path: str | os.PathLike | None = None) -> Any:
        """Pairwise scatter of the particles: the figure, or saved to ``path``."""
        from ._plots import plot_pairs

        return plot_pairs(self, path)

    def to_arviz(self) -> Any:
        """The particles as an ``arviz.InferenceData`` posterior (one chain, draws = particles)."""
        az = _arviz()
        p = self._require_fit()
        return az.from_dict(posterior={f"theta_{i}": p[None, :, i] for i in range(p.shape[1])})


def _arviz() -> Any:
    try:
        with warnings.catch_warnings():
            # arviz 0.2x warns once a day, on import, about its own coming refactor: noise that
            # is not about this call (and an error under warnings-as-errors).
            warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")
            import arviz as az
    except ImportError as exc:
        raise ImportError("to_arviz needs arviz: pip install 'phasic[posterior]'") from exc
    return az
