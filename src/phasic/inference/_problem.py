"""What every sampler is asked: a model, its data, a likelihood family, a prior and a transform,
checked once (`define_problem`); the starting points (`start_points`) and their placement on the
device mesh (`start_on_mesh`), shared by `SVGD` and `NUTS`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding

import jax

from .._errors import ParameterError, PhasicError
from ._fingerprint import identity
from ._likelihood_sfs import check_counts
from ._target import (
    LIKELIHOODS,
    check_log_likelihood,
    infer_theta_dim,
    log_likelihood_of,
    make_logdensity,
)
from ._transforms import IDENTITY, Transform, positive_where, resolve_transform

__all__ = [
    "Problem",
    "ProblemAttributes",
    "check_count",
    "define_problem",
    "on_mesh",
    "start_on_mesh",
    "start_points",
]


def check_count(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int >= minimum, or a ParameterError naming it (10.5 is not read as 10)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ParameterError(f"{name} = {value!r} must be an integer >= {minimum}")
    return int(value)


class Problem(NamedTuple):
    """A checked inference problem; `logdensity` is what a sampler moves on."""

    model: Callable | None
    observed_data: jax.Array | None
    prior: Callable | None
    likelihood: str  # one of LIKELIHOODS
    noise_scale: float | None
    weights: jax.Array | None
    custom: Callable | None  # the user's log_likelihood(theta)
    transform: Transform

    def log_likelihood(self) -> Callable[[jax.Array], jax.Array]:
        """``loglik(theta) -> scalar`` on the natural scale."""
        return log_likelihood_of(
            self.likelihood,
            self.model,
            self.observed_data,
            noise_scale=self.noise_scale,
            weights=self.weights,
            custom=self.custom,
        )

    def logdensity(self, penalty: Callable | None = None) -> Callable[[jax.Array], jax.Array]:
        """``logdensity(z)`` on the unconstrained scale (likelihood, Jacobian, prior, penalty)."""
        return make_logdensity(self.log_likelihood(), self.transform, self.prior, penalty)

    def identity(self, *extra: Any) -> str:
        """A digest of what defines the target (data, likelihood, model, prior, ``extra``), so a
        checkpoint is never reused for another one."""
        return identity(
            self.observed_data,
            self.weights,
            self.likelihood,
            repr(self.noise_scale),
            self.model,
            self.prior,
            self.custom,
            *extra,
        )


class ProblemAttributes:
    """The problem's parts as a sampler's attributes (read from ``self._problem``, one copy)."""

    _problem: Problem

    @property
    def model(self) -> Callable | None:
        return self._problem.model

    @property
    def observed_data(self) -> jax.Array | None:
        return self._problem.observed_data

    @property
    def prior(self) -> Callable | None:
        return self._problem.prior

    @property
    def likelihood(self) -> str:
        return self._problem.likelihood

    @property
    def noise_scale(self) -> float | None:
        return self._problem.noise_scale

    @property
    def transform(self) -> Transform:
        return self._problem.transform


def define_problem(
    who: str,
    model: Callable | None,
    observed_data: Any,
    prior: Callable | None,
    *,
    likelihood: str | None,
    noise_scale: float | None,
    weights: Any,
    log_likelihood: Callable | None,
    transform: Any,
) -> Problem:
    """Check what the user gave ``who`` (the sampler's name, for messages) and resolve defaults:
    the likelihood is 'custom' with ``log_likelihood``, else 'gaussian'."""
    if not jax.config.read("jax_enable_x64"):
        raise PhasicError(
            f"{who} computes in float64: call jax.config.update('jax_enable_x64', True) or "
            "initialize_distributed(enable_x64=True) first"
        )
    if observed_data is not None:
        obs = np.asarray(observed_data, dtype=np.float64)
        if obs.size == 0 or not np.all(np.isfinite(obs)):
            bad = "is empty" if obs.size == 0 else "holds NaN or infinite values"
            raise ParameterError(f"observed_data {bad}; pass finite observations")
    if noise_scale is not None and not (np.isfinite(noise_scale) and noise_scale > 0):
        raise ParameterError(f"noise_scale = {noise_scale!r} must be a finite number > 0")
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ParameterError("weights must be finite and >= 0")
    if likelihood is None:
        # a density from pmf_from_graph is read as one: it carries `log_density`, which the
        # density likelihood uses (a model built with log=True returns logs and carries none)
        density = callable(getattr(model, "log_density", None))
        likelihood = (
            "custom" if log_likelihood is not None else "density" if density else "gaussian"
        )
    if likelihood not in LIKELIHOODS:
        raise ParameterError(f"likelihood = {likelihood!r}; choose one of {LIKELIHOODS[:-1]}")
    if likelihood in ("poisson", "multinomial") and observed_data is not None:
        check_counts(observed_data, f"observed_data (likelihood='{likelihood}': counts of sites)")
    if likelihood == "custom" and log_likelihood is None:
        raise ParameterError("likelihood='custom' needs log_likelihood=callable")
    return Problem(
        model,
        None if observed_data is None else jnp.asarray(observed_data),
        prior,
        likelihood,
        noise_scale,
        None if weights is None else jnp.asarray(weights, dtype=jnp.float64),
        log_likelihood,
        IDENTITY if _is_auto(transform) else resolve_transform(transform),
    )


def _is_auto(transform: Any) -> bool:
    return isinstance(transform, str) and transform == "auto"


def with_auto_transform(problem: Problem, requested: Any, theta_init: np.ndarray) -> Problem:
    """``problem`` with ``transform='auto'`` decided: θ_i = softplus(z_i) for every coordinate the
    model (or prior) says is a rate, identity for the others.

    Softplus rather than exp: a rate posterior is far less skewed on softplus's scale (linear
    above ~1) than on the log scale, where a weakly identified rate has a long left tail. On the
    7-epoch Poisson SFS of ``bench/bench_svgd_vs_nuts.py`` SVGD's sd was 0.72 of NUTS's on the
    widest coordinate with exp and 0.90-1.19 with softplus; NUTS's warm-up under exp took over
    10 min on the two-island model.

    A coordinate is a rate when every starting point has it > 0 and the log-likelihood or the
    prior is -inf or NaN once it alone turns negative (phasic models are -inf outside their
    support: a negative rate). One batched evaluation at the first starting point.
    """
    if not _is_auto(requested):
        return problem
    ref = np.asarray(theta_init[0], dtype=np.float64)
    d = ref.size
    candidates = np.all(theta_init > 0, axis=0)
    probes = np.repeat(ref[None], d, axis=0)
    probes[np.arange(d), np.arange(d)] = -ref
    loglik = problem.log_likelihood()
    prior = problem.prior

    def at(th):
        lp = loglik(th)
        return lp if prior is None else lp + prior(th)

    try:
        vals = np.asarray(jax.vmap(at)(jnp.asarray(probes)), dtype=np.float64)
    except Exception:  # noqa: BLE001 - a model that raises for negative θ: it is a rate model
        vals = np.full(d, -np.inf)
    rates = candidates & ~np.isfinite(vals)
    return problem._replace(transform=positive_where(rates, "softplus"))


def start_points(
    problem: Problem,
    theta_init: Any,
    theta_dim: int | None,
    n: int | None,
    seed: int,
    *,
    count_name: str = "n_particles",
    default_n: int | Callable[[int], int] = 50,
    distinct: bool = True,
) -> np.ndarray:
    """Starting points (n, theta_dim) on the natural scale: ``theta_init``, or Uniform(0.5, 2)
    draws from ``seed``; theta_dim from theta_init, the argument, or the model (one length only).
    The model is evaluated once (by shape) at theta_dim, so mismatches are named before fitting."""
    if theta_init is not None:
        ti = np.asarray(theta_init, dtype=np.float64)
        if ti.ndim == 1:
            ti = ti[:, None]
        if ti.ndim != 2:
            raise ParameterError(f"theta_init must be ({count_name}, theta_dim), got {ti.shape}")
        if theta_dim is not None and ti.shape[1] != theta_dim:
            raise ParameterError(
                f"theta_init has {ti.shape[1]} columns but theta_dim = {theta_dim}"
            )
        if n is not None and ti.shape[0] != n:
            raise ParameterError(f"theta_init has {ti.shape[0]} rows but {count_name} = {n}")
        theta_dim, n = ti.shape[1], ti.shape[0]
    if theta_dim is None:
        theta_dim = infer_theta_dim(
            problem.likelihood, problem.model, problem.observed_data, problem.custom
        )
    if n is None:
        n = default_n(int(theta_dim)) if callable(default_n) else default_n
    n = int(n)
    if n < (2 if distinct else 1):
        raise ParameterError(f"{count_name} = {n} must be >= {2 if distinct else 1}")
    if theta_init is None:
        ti = np.random.default_rng(seed).uniform(0.5, 2.0, size=(n, int(theta_dim)))
    if not np.all(np.isfinite(ti)):
        raise ParameterError("theta_init holds NaN or infinite values")
    _, first, counts = np.unique(ti, axis=0, return_index=True, return_counts=True)
    if distinct and np.any(counts > 1):
        row = int(first[np.argmax(counts > 1)])
        raise ParameterError(
            f"theta_init row {row} = {ti[row].tolist()} appears more than once; identical "
            "particles feel no repulsion and never separate: start from distinct points"
        )
    check_log_likelihood(
        problem.likelihood,
        problem.model,
        problem.observed_data,
        int(theta_dim),
        weights=problem.weights,
        custom=problem.custom,
    )
    if problem.prior is not None:
        _check_prior(problem.prior, ti)
    return ti


def _check_prior(prior: Callable, points: np.ndarray) -> None:
    """A prior that is NaN at a starting point, or -inf at all of them, gives no direction."""
    try:
        lp = np.asarray(jax.vmap(prior)(jnp.asarray(points)), dtype=np.float64)
    except PhasicError:
        raise
    except Exception as exc:
        raise ParameterError(f"evaluating prior(theta) at theta_init failed: {exc}") from exc
    if lp.shape != (points.shape[0],):
        raise ParameterError(f"prior(theta) must return a scalar, got shape {lp.shape[1:]}")
    if np.any(np.isnan(lp)):
        row = int(np.argmax(np.isnan(lp)))
        raise ParameterError(
            f"prior(theta) is NaN at θ = {points[row].tolist()} (starting point {row}); a log "
            "prior must be a number or -inf"
        )
    if np.all(lp == -np.inf):
        raise ParameterError(
            "prior(theta) is -inf at every starting point: start inside the prior's support "
            "(theta_init) or check the prior"
        )


def on_mesh(host: Any, sharding: NamedSharding) -> jax.Array:
    """A global array from host data that every process holds in full (multi-process safe)."""
    host = np.asarray(host)
    return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])


def start_on_mesh(
    theta_init: np.ndarray, transform: Transform, n_pad: int
) -> tuple[np.ndarray, np.ndarray]:
    """The coordinator's starting points (every process starts from them) and their unconstrained
    values padded with ``n_pad`` copies of the last row, (n + n_pad, d), for sharding."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        theta_init = np.asarray(multihost_utils.broadcast_one_to_all(theta_init))
    z0 = np.asarray(transform.inverse(jnp.asarray(theta_init)))
    if not np.all(np.isfinite(z0)):
        raise ParameterError(
            f"theta_init is outside the domain of the '{transform.name}' transform"
        )
    if n_pad:
        z0 = np.concatenate([z0, np.repeat(z0[-1:], n_pad, axis=0)])
    return theta_init, z0
