"""Parameter transforms: SVGD moves unconstrained z; the model and the prior see θ = forward(z)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

import jax

__all__ = ["Transform", "positive_where", "resolve_transform"]


class Transform(NamedTuple):
    """A bijection θ = forward(z) with ``log_det_jacobian(z) = sum log |dθ/dz|``."""

    name: str
    forward: Callable[[jax.Array], jax.Array]
    inverse: Callable[[jax.Array], jax.Array]
    log_det_jacobian: Callable[[jax.Array], jax.Array]


IDENTITY = Transform("identity", lambda z: z, lambda t: t, lambda z: jnp.zeros(()))
SOFTPLUS = Transform(
    "softplus",
    jax.nn.softplus,
    lambda t: t + jnp.log(-jnp.expm1(-t)),
    lambda z: jnp.sum(jax.nn.log_sigmoid(z)),
)
LOG = Transform("log", jnp.exp, jnp.log, lambda z: jnp.sum(z))


def positive_where(mask, kind: str = "log") -> Transform:
    """θ_i = exp(z_i) (``kind='log'``) or softplus(z_i) (``'softplus'``) where ``mask`` (d,) is
    true, θ_i = z_i elsewhere: rates kept positive beside unconstrained parameters (the plain
    transform when all are rates)."""
    m = np.asarray(mask, dtype=bool)
    base = LOG if kind == "log" else SOFTPLUS
    if m.all():
        return base
    if not m.any():
        return IDENTITY
    name = f"{base.name}[" + ",".join(str(int(i)) for i in np.flatnonzero(m)) + "]"
    logdet = jax.vmap(lambda zi: base.log_det_jacobian(zi[None]))
    return Transform(
        name,
        # the rate branch sees 0 off the mask: e^z of a large free coordinate would be inf and
        # its (discarded) derivative would still turn the gradient into NaN
        lambda z: jnp.where(m, base.forward(jnp.where(m, z, 0.0)), z),
        lambda t: jnp.where(m, base.inverse(jnp.where(m, t, 1.0)), t),
        lambda z: jnp.sum(jnp.where(m, logdet(jnp.atleast_1d(z)), 0.0)),
    )


def resolve_transform(transform) -> Transform:
    """None/'identity', 'softplus' or 'log' (θ = exp z) for positive parameters, or a Transform
    ('auto' is decided by the samplers once θ's dimension is known: `with_auto_transform`).
    """
    from .._errors import ParameterError

    if transform is None or transform == "identity":
        return IDENTITY
    if isinstance(transform, Transform):
        return transform
    if transform == "softplus":
        return SOFTPLUS
    if transform in ("log", "exp"):
        return LOG
    raise ParameterError(
        f"transform = {transform!r}; choose 'auto', None, 'softplus', 'log' or a Transform"
    )
