"""Gaussian log-likelihoods of a model's prediction: known noise, or profiled noise."""

from __future__ import annotations

import jax.numpy as jnp

import jax

__all__ = ["gaussian_log_likelihood"]


def gaussian_log_likelihood(
    prediction: jax.Array, observed: jax.Array, noise_scale: float | None = None
) -> jax.Array:
    """Log-likelihood of ``observed`` under independent Gaussian noise around ``prediction``.

    Parameters
    ----------
    prediction, observed : array, same shape
        The model's prediction and the data (any units, the same for both).
    noise_scale : float, optional
        The noise standard deviation σ (units of the data): ``-0.5 Σ (y - ŷ)² / σ²``. When None,
        the profile likelihood ``-(N/2) log(RSS / N)`` (σ maximised out, per θ).

    Returns
    -------
    scalar array, up to an additive constant; -inf (with a zero gradient) when the prediction
    holds NaN: θ outside the model's support.
    """
    outside = jnp.isnan(prediction)  # θ outside the model's support: -inf, zero gradient
    resid = observed - jnp.where(outside, 0.0, prediction)
    if noise_scale is not None:
        ll = -0.5 * jnp.sum(resid**2) / noise_scale**2
    else:
        n = resid.size
        ll = -0.5 * n * jnp.log(jnp.sum(resid**2) / n)
    return jnp.where(jnp.any(outside), -jnp.inf, ll)
