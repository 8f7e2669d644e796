"""When a particle posterior is not to be trusted (issue 12): two checks that cost one Hessian.

* **Spread against the Laplace approximation.** At the particles' mean on the unconstrained
  scale, -H⁻¹ (H the Hessian of the log density, by central differences of its exact gradient)
  is the Laplace covariance. SVGD with one
  bandwidth shrinks the spread of narrow coordinates and of many dimensions; a particle sd well
  below the Laplace sd there flags intervals that are too narrow. (A posterior far from Gaussian
  can legitimately differ; the report says which way and by how much.)
* **Still moving.** The mean particle movement of the last iterations relative to the particles'
  spread: a fit whose particles still travel a good fraction of their spread per iteration has
  not settled, and its spread reflects the step size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

import jax

__all__ = ["Trust", "assess"]

NARROW = 0.8  # particle sd / Laplace sd below this: intervals likely too narrow
WIDE = 1.5  # above this: far from Gaussian, or not converged
MOVING = 0.05  # mean movement per iteration / total spread above this: not settled


class Trust(NamedTuple):
    """What `assess` found, kept on the fitted sampler as ``trust``.

    Attributes
    ----------
    laplace_sd_ratio : array (theta_dim,) or None
        Particle sd / Laplace sd per coordinate on the unconstrained scale; None where the log
        density is not locally concave at the particles' mean (no Laplace approximation).
    movement_ratio : float
        Mean movement per iteration over the last tenth of the run, over the summed particle sd.
    warnings : tuple of str
        One line per finding; empty when nothing is suspect.
    """

    laplace_sd_ratio: np.ndarray | None
    movement_ratio: float
    warnings: tuple[str, ...]


def _hessian(scores: Callable[[jax.Array], jax.Array], x: np.ndarray, sd: np.ndarray):
    """Symmetrized Hessian (d, d) at ``x`` by central differences of the exact gradient, steps
    a thousandth of the particles' spread: the models' derivative rules are first order
    (custom JVPs over native kernels), so ``jax.hessian`` is not available for every model.
    ``scores`` maps points (m, d) to their gradients (m, d)."""
    h = 1e-3 * np.where(sd > 0, sd, 1e-3 * (1.0 + np.abs(x)))
    steps = np.diag(h)
    g = np.asarray(scores(jnp.asarray(np.concatenate([x + steps, x - steps]))))
    d = x.size
    hess = (g[:d] - g[d:]) / (2 * h[:, None])  # row j: d grad / d x_j
    return (hess + hess.T) / 2


def assess(scores: Callable[[jax.Array], jax.Array], z: np.ndarray, movement: np.ndarray) -> Trust:
    """Check particles ``z`` (n, d) on the unconstrained scale against the log density they
    target, through ``scores`` (its gradient at a batch of points (m, d), e.g.
    ``jax.jit(jax.vmap(jax.grad(logdensity)))``, compiled once by the caller), given the
    per-iteration ``movement`` history."""
    z = np.asarray(z, dtype=np.float64)
    sd = z.std(axis=0, ddof=1)
    warnings: list[str] = []
    ratio: np.ndarray | None = None
    curvature = -_hessian(scores, z.mean(axis=0), sd)
    if np.all(np.isfinite(curvature)) and np.all(np.linalg.eigvalsh(curvature) > 0):
        ratio = sd / np.sqrt(np.diag(np.linalg.inv(curvature)))
        for i in np.flatnonzero(ratio < NARROW):
            warnings.append(
                f"θ[{i}]: the particles' sd is {ratio[i]:.2g} of the Laplace approximation's at "
                "their mean: intervals are likely too narrow (more particles, a smaller step, or "
                "check with NUTS)"
            )
        for i in np.flatnonzero(ratio > WIDE):
            warnings.append(
                f"θ[{i}]: the particles' sd is {ratio[i]:.2g} times the Laplace approximation's "
                "at their mean: far from Gaussian there, or not converged"
            )
    else:
        warnings.append(
            "the log density is not concave at the particles' mean: no Laplace check of the "
            "spread (a multimodal or flat posterior?)"
        )
    tail = np.asarray(movement, dtype=np.float64)
    tail = tail[-max(1, tail.size // 10) :] if tail.size else np.zeros(1)
    moving = float(np.mean(tail) / max(float(np.sum(sd)), 1e-300))
    if moving > MOVING:
        warnings.append(
            f"the particles still move {moving:.2g} of their spread per iteration: the fit has "
            "not settled and its spread depends on the step size (lower learning_rate or use a "
            "decaying schedule, and run longer)"
        )
    return Trust(ratio, moving, tuple(warnings))
