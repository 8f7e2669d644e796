"""The exact log-likelihood of observed absorption times from their densities."""

from __future__ import annotations

import math

import jax.numpy as jnp

import jax

from .._errors import ParameterError

__all__ = ["density_log_likelihood"]

# A density that is exactly 0 (an observation the model cannot produce, e.g. t = 0 with no exit
# from the start) counts as this log instead of -inf, as a vanishing density always did. Tails
# that merely underflow never get here when the model offers ``log_density``: its logs are exact.
_LOG_FLOOR = math.log(1e-300)
# NaN densities are θ outside the model's support (phasic models return NaN there with a zero
# derivative): their log is -inf, and the gradient stays finite (0).


def density_log_likelihood(
    density: jax.Array | None = None,
    weights: jax.Array | None = None,
    *,
    log_density: jax.Array | None = None,
) -> jax.Array:
    """``Σ w_i log f(x_i)`` from the model's densities (or their logs) at the observations.

    Parameters
    ----------
    density : array (N,), optional
        ``f(x_i)``, the density (1 / time units) or pmf at each observation. A density that
        underflows to 0 in a far tail loses its gradient: pass ``log_density`` instead.
    weights : array (N,), optional
        Non-negative counts or weights per observation (binned data); 1 when None.
    log_density : array (N,), optional
        ``log f(x_i)`` computed in log space (``model.log_density`` of
        `phasic.Graph.pmf_from_graph`): exact with exact gradients however far in the tail.

    Returns
    -------
    scalar array; -inf (with a zero gradient) when a weighted density is NaN: θ outside the
    model's support.
    """
    if (density is None) == (log_density is None):
        raise ParameterError("density_log_likelihood: pass exactly one of density and log_density")
    if log_density is None:
        assert density is not None
        outside = jnp.isnan(density)
        positive = density > 0  # log only where it is finite: a masked log(0) NaNs the gradient
        logs = jnp.where(positive, jnp.log(jnp.where(positive, density, 1.0)), _LOG_FLOOR)
    else:
        outside = jnp.isnan(log_density)
        logs = jnp.where(outside | (log_density == -jnp.inf), _LOG_FLOOR, log_density)
    w = jnp.ones_like(logs) if weights is None else jnp.broadcast_to(weights, logs.shape)
    total = jnp.sum(jnp.where(w > 0, w * logs, 0.0))
    return jnp.where(jnp.any(outside & (w > 0)), -jnp.inf, total)
