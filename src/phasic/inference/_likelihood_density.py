"""The exact log-likelihood of observed absorption times from their densities."""

from __future__ import annotations

import jax.numpy as jnp

import jax

__all__ = ["density_log_likelihood"]

# Densities below this are read as this: a vanishing tail density does not make log(0) = -inf.
# (Its gradient is zero there: issue 14 item 6 asks for log-space densities instead.)
_DENSITY_FLOOR = 1e-300
# NaN densities are θ outside the model's support (phasic models return NaN there with a zero
# derivative): their log is -inf, and the gradient stays finite (0).


def density_log_likelihood(density: jax.Array, weights: jax.Array | None = None) -> jax.Array:
    """``Σ w_i log f(x_i)`` from the model's densities at the observations.

    Parameters
    ----------
    density : array (N,)
        ``f(x_i)``, the density (1 / time units) or pmf at each observation.
    weights : array (N,), optional
        Non-negative counts or weights per observation (binned data); 1 when None.

    Returns
    -------
    scalar array; -inf (with a zero gradient) when a weighted density is NaN: θ outside the
    model's support.
    """
    outside = jnp.isnan(density)
    logs = jnp.log(jnp.maximum(jnp.where(outside, 1.0, density), _DENSITY_FLOOR))
    w = jnp.ones_like(logs) if weights is None else jnp.broadcast_to(weights, logs.shape)
    total = jnp.sum(jnp.where(w > 0, w * logs, 0.0))
    return jnp.where(jnp.any(outside & (w > 0)), -jnp.inf, total)
