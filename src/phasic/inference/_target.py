"""The target a sampler moves on: a likelihood family applied to a model, plus prior and transform.

Samplers (`svgd_step`, `NUTS`) take the returned ``logdensity(z)``, never the model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

import jax

from .._errors import ParameterError, PhasicError
from ._likelihood_density import density_log_likelihood
from ._likelihood_gaussian import gaussian_log_likelihood
from ._likelihood_sfs import multinomial_sfs_log_likelihood, poisson_sfs_log_likelihood
from ._transforms import Transform

__all__ = [
    "LIKELIHOODS",
    "check_log_likelihood",
    "infer_theta_dim",
    "log_likelihood_of",
    "make_logdensity",
]

LIKELIHOODS = ("gaussian", "density", "poisson", "multinomial", "custom")

# families of the prediction model(theta) against observed_data of the same shape
_OF_PREDICTION = {
    "gaussian": None,
    "poisson": poisson_sfs_log_likelihood,
    "multinomial": multinomial_sfs_log_likelihood,
}


def _required(value: Any, message: str) -> Any:
    if value is None:
        raise ParameterError(message)
    return value


def log_likelihood_of(
    likelihood: str,
    model: Callable | None,
    observed: jax.Array | None,
    *,
    noise_scale: float | None = None,
    weights: jax.Array | None = None,
    custom: Callable | None = None,
) -> Callable[[jax.Array], jax.Array]:
    """``loglik(theta) -> scalar`` for one of `LIKELIHOODS`.

    'gaussian': `gaussian_log_likelihood` of ``model(theta)`` against ``observed``;
    'density': `density_log_likelihood` of ``model(theta, observed)`` (of
    ``model.log_density(theta, observed)`` in log space when the model has one); 'poisson' and
    'multinomial': the SFS families of ``model(theta)`` (an expected SFS) against ``observed``
    counts; 'custom': ``custom``.
    """
    if likelihood == "custom":
        return _required(custom, "likelihood='custom' needs log_likelihood=callable")
    if likelihood in LIKELIHOODS:
        m = _required(model, f"likelihood='{likelihood}' needs a model")
        y = _required(observed, f"likelihood='{likelihood}' needs observed_data")
        if likelihood == "density":
            log_m = getattr(m, "log_density", None)  # set by Graph.pmf_from_graph: exact tails
            if callable(log_m):
                return lambda theta: density_log_likelihood(
                    weights=weights, log_density=log_m(theta, y)
                )
            return lambda theta: density_log_likelihood(m(theta, y), weights)
        if likelihood == "gaussian":
            return lambda theta: gaussian_log_likelihood(m(theta), y, noise_scale)
        family = _OF_PREDICTION[likelihood]
        assert family is not None  # gaussian is handled above
        return lambda theta: family(m(theta), y)
    raise ParameterError(f"likelihood = {likelihood!r}; choose one of {LIKELIHOODS}")


def check_log_likelihood(
    likelihood: str,
    model: Callable | None,
    observed: jax.Array | None,
    theta_dim: int,
    *,
    weights: jax.Array | None = None,
    custom: Callable | None = None,
) -> None:
    """Raise a ParameterError naming the mismatch when θ of shape (theta_dim,) does not fit."""
    th = jax.ShapeDtypeStruct((theta_dim,), jnp.float64)
    if likelihood == "custom":
        fn = _required(custom, "likelihood='custom' needs log_likelihood=callable")
    else:
        m = _required(model, f"likelihood='{likelihood}' needs a model")
        y = _required(observed, f"likelihood='{likelihood}' needs observed_data")
    try:
        if likelihood in _OF_PREDICTION:
            out = jax.eval_shape(m, th)
            if out.shape != y.shape:
                raise ParameterError(
                    f"model(theta) has shape {out.shape} but observed_data has shape "
                    f"{y.shape}; they must match for the {likelihood} likelihood"
                )
        elif likelihood == "density":
            out = jax.eval_shape(lambda t: m(t, y), th)
            if out.shape != y.shape:
                raise ParameterError(
                    f"model(theta, observed_data) has shape {out.shape}; expected "
                    f"{y.shape} (one density value per observation)"
                )
            if weights is not None and weights.shape != y.shape:
                raise ParameterError(f"weights has shape {weights.shape}; expected {y.shape}")
        else:
            out = jax.eval_shape(fn, th)
            if out.shape != ():
                raise ParameterError("log_likelihood(theta) must return a scalar")
    except ParameterError:
        raise
    except Exception as exc:
        raise ParameterError(
            f"evaluating the model at θ of shape ({theta_dim},) failed: {exc}"
        ) from exc


def infer_theta_dim(
    likelihood: str, model: Callable | None, observed: Any, custom: Callable | None
) -> int:
    """The one θ length (1..16) the model accepts; an error when several fit (a broadcasting
    model) or none does (naming the model's own error when it is about the data)."""
    fn: Callable
    if likelihood == "custom":
        fn = _required(custom, "likelihood='custom' needs log_likelihood=callable")
    elif likelihood == "density":
        m = _required(model, "likelihood='density' needs a model")
        fn = lambda th: m(th, observed)  # noqa: E731
    else:
        fn = _required(model, "the Gaussian likelihood needs a model")
    fits, failures = [], []
    for d in range(1, 17):
        try:
            jax.eval_shape(fn, jax.ShapeDtypeStruct((d,), jnp.float64))
            fits.append(d)
        except Exception as exc:  # noqa: BLE001 - probing shapes: a failure means "not this d"
            failures.append(exc)
        if len(fits) == 2:
            raise ParameterError(
                f"the model accepts θ of length {fits[0]} and {fits[1]} (it broadcasts), so the "
                "number of parameters is ambiguous: pass theta_dim= (or theta_init)"
            )
    if fits:
        return fits[0]
    about_data = [e for e in failures if isinstance(e, PhasicError) and "θ has shape" not in str(e)]
    if about_data:  # the model refuses the data, not θ: say that, not "theta_dim"
        raise ParameterError(f"evaluating the model failed: {about_data[0]}") from about_data[0]
    raise ParameterError(
        "could not infer theta_dim: the model failed for θ of every length 1..16; pass "
        f"theta_dim= (the last error: {failures[-1]})"
    )


def make_logdensity(
    log_likelihood: Callable[[jax.Array], jax.Array],
    transform: Transform,
    prior: Callable | None = None,
    penalty: Callable | None = None,
) -> Callable[[jax.Array], jax.Array]:
    """``logdensity(z)`` on the unconstrained scale, θ = transform.forward(z):

    log L(θ) + log |dθ/dz| + log prior(θ) + penalty(θ) (prior and penalty when given).
    """

    def logdensity(z):
        theta = transform.forward(z)
        lp = log_likelihood(theta) + transform.log_det_jacobian(z)
        if prior is not None:
            lp = lp + prior(theta)
        if penalty is not None:
            lp = lp + penalty(theta)
        return lp

    return logdensity
