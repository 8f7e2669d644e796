"""The exact log-likelihood of observed absorption times from their densities."""

from __future__ import annotations

import jax.numpy as jnp

import jax

__all__ = ["density_log_likelihood"]

# Densities below this are read as this: a vanishing tail density does not make log(0) = -inf.
# (Its gradient is zero there: issue 14 item 6 asks for log-space densities instead.)
_DENSITY_FLOOR = 1e-300


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
    scalar array.
    """
    logs = jnp.log(jnp.maximum(density, _DENSITY_FLOOR))
    w = weights if weights is not None else 1.0
    return jnp.sum(w * logs)
