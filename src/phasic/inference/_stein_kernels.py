"""SVGD kernels: small pure functions ``kernel(x, y, h) -> (k, grad_x k)`` plus bandwidth rules.

Every kernel takes particle sets ``x`` (m, d) and ``y`` (n, d) and a bandwidth ``h`` and returns
the Gram matrix ``K[j, i] = k(x_j, y_i)`` (m, n) and ``G[j, i] = ∇_{x_j} k(x_j, y_i)`` (m, n, d).
The SVGD direction for particle y_i is ``mean_j K[j, i] score(x_j) + G[j, i]``; the second term
pushes particles apart (for the RBF kernel ``G[j, i] = -2 (x_j - y_i) K[j, i] / h``, so the
update moves y_i away from x_j).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax.numpy as jnp

import jax

__all__ = ["Kernel", "imq", "median_bandwidth", "rbf", "resolve_kernel", "spread_factor"]


def _sqdist(x, y):
    diff = x[:, None, :] - y[None, :, :]
    return diff, jnp.sum(diff**2, axis=-1)


def rbf(x, y, h) -> tuple[jax.Array, jax.Array]:
    """Gaussian kernel exp(-|x - y|^2 / h)."""
    diff, d2 = _sqdist(x, y)
    k = jnp.exp(-d2 / h)
    return k, -2.0 / h * diff * k[..., None]


def imq(x, y, h) -> tuple[jax.Array, jax.Array]:
    """Inverse multiquadric kernel (1 + |x - y|^2 / h)^(-1/2): heavy tails, keeps far particles
    interacting."""
    diff, d2 = _sqdist(x, y)
    base = 1.0 + d2 / h
    k = base**-0.5
    return k, (-1.0 / h) * diff * (base**-1.5)[..., None]


MEDIAN_SUBSET = 256


def median_bandwidth(x, weights=None, log_n: bool = True) -> jax.Array:
    """Median heuristic of Liu & Wang (2016): h = med(|x_i - x_j|^2) / log(n + 1) (without the
    log(n + 1) when ``log_n`` is false).

    ``weights`` (n,) of 0/1 excludes padding particles. With more than 256 particles the median
    is taken over the pairs of an evenly strided subset of 256 of them (O(256²) instead of an
    O(n² log n) sort every iteration); n in the log term stays the full count.
    """
    n = x.shape[0]
    if weights is None:
        weights = jnp.ones(n)
    n_eff_full = jnp.sum(weights)
    if n > MEDIAN_SUBSET:
        idx = jnp.asarray(np_linspace_int(n, MEDIAN_SUBSET))
        x, weights = x[idx], weights[idx]
        n = MEDIAN_SUBSET
    _, d2 = _sqdist(x, x)
    mask = (weights[:, None] * weights[None, :]) > 0
    mask = mask & ~jnp.eye(n, dtype=bool)
    vals = jnp.where(mask, d2, jnp.nan)
    med = jnp.nanmedian(vals)
    h = med / jnp.log(n_eff_full + 1.0) if log_n else med
    return jnp.where(jnp.isfinite(h) & (h > 0), h, 1.0)


def np_linspace_int(n: int, k: int):
    import numpy as np

    return np.linspace(0, n - 1, k).round().astype(np.int32)


@dataclass(frozen=True)
class Kernel:
    """A kernel function with its bandwidth rule.

    Attributes
    ----------
    fn : callable
        ``fn(x, y, h) -> (K, G)``.
    bandwidth : float or None
        Fixed bandwidth; None for the median heuristic.
    smoothing : float
        Exponential moving average weight of the previous bandwidth (0: recomputed every step).
    name : str
    precondition : bool
        Run SVGD in coordinates whitened by the particles' current mean and covariance (a
        matrix-valued kernel preconditioned by their spread, Wang et al. 2019): every direction
        gets its own length scale, so narrow or correlated coordinates are not squeezed by the
        wide ones. The bandwidth is then 2 med(|z_i - z_j|²) instead of Liu & Wang's
        med / log(n + 1), which in whitened space makes the spread collapse as the dimension
        grows (sd 0.55 of the truth in 10-d with 50 particles): wide enough to approach the
        linear-kernel limit in which SVGD matches a Gaussian's mean and covariance exactly,
        local enough to follow a skewed posterior (the two-island model's island-2 rate: sd
        0.97 of NUTS's against 0.87 at med²).
    """

    fn: Callable
    bandwidth: float | None = None
    smoothing: float = 0.0
    name: str = "median"
    precondition: bool = False

    def bandwidth_of(self, x, weights, previous) -> jax.Array:
        if self.bandwidth is not None:
            return jnp.asarray(self.bandwidth, dtype=x.dtype)
        if self.precondition:  # 2 med(|z_i - z_j|²): see `precondition`
            h = 2.0 * median_bandwidth(x, weights, log_n=False)
        else:
            h = median_bandwidth(x, weights)
        if self.smoothing:
            h = jnp.where(previous > 0, self.smoothing * previous + (1 - self.smoothing) * h, h)
        return h


def resolve_kernel(kernel) -> Kernel:
    """``'auto'`` (RBF in coordinates whitened by the particles' spread, the default),
    ``'median'`` (RBF, the median heuristic of the SVGD paper), ``'rbf_adaptive'`` (median
    heuristic smoothed over iterations), ``'imq'``, a positive float (RBF with that fixed
    bandwidth), or a `Kernel`."""
    from .._errors import ParameterError

    if isinstance(kernel, Kernel):
        return kernel
    if isinstance(kernel, int | float) and not isinstance(kernel, bool):
        if not kernel > 0:
            raise ParameterError(f"kernel bandwidth {kernel!r} must be > 0")
        return Kernel(rbf, float(kernel), name=f"rbf(h={kernel})")
    if kernel == "auto":
        return Kernel(rbf, None, name="auto", precondition=True)
    if kernel == "median":
        return Kernel(rbf, None, name="median")
    if kernel == "rbf_adaptive":
        return Kernel(rbf, None, smoothing=0.9, name="rbf_adaptive")
    if kernel == "imq":
        return Kernel(imq, None, name="imq")
    raise ParameterError(
        f"kernel = {kernel!r}; choose 'auto', 'median', 'rbf_adaptive', 'imq', a bandwidth > 0, "
        "or a Kernel"
    )


def spread_factor(x, weights) -> tuple[jax.Array, jax.Array]:
    """The particles' weighted mean m (d,) and a factor L (d, d) of their covariance, L Lᵀ = C:
    z = L⁻¹ (x - m) whitens them. Cholesky of C with a small ridge when there are more than
    2 d particles; the diagonal of standard deviations otherwise (a covariance from few
    particles is rank-deficient)."""
    n, d = x.shape
    w = weights / jnp.sum(weights)
    m = w @ x
    dev = x - m
    neff = 1.0 / jnp.sum(w**2)
    var = (w @ dev**2) * neff / jnp.maximum(neff - 1.0, 1.0)
    floor = 1e-12 * jnp.maximum(jnp.max(var), 1e-300)
    if n <= 2 * d:
        return m, jnp.diag(jnp.sqrt(var + floor))
    cov = (dev * w[:, None]).T @ dev * neff / jnp.maximum(neff - 1.0, 1.0)
    return m, jnp.linalg.cholesky(cov + floor * jnp.eye(d))
