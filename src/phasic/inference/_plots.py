"""Diagnostic plots of an SVGD fit (matplotlib, Agg-safe): returned as figures, or written to
files."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ._fit import SVGD
    from ._posterior import ParticlePosterior


def _plt():
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError("SVGD plots need matplotlib: pip install 'phasic[plot]'") from exc

    if os.environ.get("MPLBACKEND") is None and not os.environ.get("DISPLAY"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finish(plt: Any, fig: Any, path: Any) -> Any:
    """The figure itself without a path (notebooks show it); else saved, closed, the path."""
    fig.tight_layout()
    if path is None:
        return fig
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_posterior(svgd: ParticlePosterior, path, level=0.95, true_theta=None) -> Any:
    plt = _plt()
    p = svgd._require_fit()
    lo, hi = svgd.credible_interval(level)
    d = p.shape[1]
    fig, axes = plt.subplots(1, d, figsize=(5 * d, 4), squeeze=False)
    for i, ax in enumerate(axes[0]):
        ax.hist(p[:, i], bins=30, density=True, alpha=0.7, color="steelblue", edgecolor="black")
        ax.axvspan(lo[i], hi[i], color="green", alpha=0.2, label=f"{int(level * 100)}% interval")
        ax.axvline(p[:, i].mean(), color="green", label="posterior mean")
        if true_theta is not None:
            ax.axvline(np.ravel(true_theta)[i], color="red", ls="--", label="true")
        ax.set_xlabel(f"θ[{i}]")
        ax.legend()
    return _finish(plt, fig, path)


def plot_trace(svgd: ParticlePosterior, path, n_traces=20) -> Any:
    plt = _plt()
    if svgd.history is None:
        raise ValueError("no history: call fit(return_history=True)")
    h = svgd.history
    d = h.shape[2]
    fig, axes = plt.subplots(1, d, figsize=(6 * d, 4), squeeze=False)
    for i, ax in enumerate(axes[0]):
        for j in range(min(n_traces, h.shape[1])):
            ax.plot(h[:, j, i], alpha=0.3, color="steelblue")
        ax.plot(h[:, :, i].mean(axis=1), color="darkblue", lw=2, label="mean")
        ax.set_xlabel(f"saved iteration (every {svgd.history_every})")
        ax.set_ylabel(f"θ[{i}]")
        ax.legend()
    return _finish(plt, fig, path)


def plot_pairs(svgd: ParticlePosterior, path) -> Any:
    """Pairwise scatter of the particles (histograms on the diagonal)."""
    plt = _plt()
    p = svgd._require_fit()
    d = p.shape[1]
    fig, axes = plt.subplots(d, d, figsize=(3 * d, 3 * d), squeeze=False)
    for i in range(d):
        for j in range(d):
            ax = axes[i][j]
            if i == j:
                ax.hist(p[:, i], bins=30, color="steelblue")
            else:
                ax.scatter(p[:, j], p[:, i], s=6, alpha=0.5)
            if i == d - 1:
                ax.set_xlabel(f"θ[{j}]")
            if j == 0:
                ax.set_ylabel(f"θ[{i}]")
    return _finish(plt, fig, path)


def plot_predictive(svgd: SVGD, path, x=None, n_draws=50, seed=0) -> Any:
    """Model predictions of posterior particles over the observed data (Gaussian likelihood)."""
    import jax.numpy as jnp

    plt = _plt()
    p = svgd._require_fit()
    model = svgd.model
    if model is None:
        raise ValueError("plot_predictive needs the model(theta) the fit used")
    obs = np.asarray(svgd.observed_data)
    x = np.arange(obs.size) if x is None else np.asarray(x)
    rng = np.random.default_rng(seed)
    fig, ax = plt.subplots(figsize=(8, 4))
    for idx in rng.choice(p.shape[0], min(n_draws, p.shape[0]), replace=False):
        ax.plot(x, np.asarray(model(jnp.asarray(p[idx]))), color="steelblue", alpha=0.1)
    ax.plot(x, np.asarray(model(jnp.asarray(p.mean(axis=0)))), "g--", label="posterior mean")
    ax.scatter(x, obs, color="black", s=15, label="observed")
    ax.legend()
    return _finish(plt, fig, path)
