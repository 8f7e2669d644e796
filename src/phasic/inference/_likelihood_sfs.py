"""Log-likelihoods of site frequency spectra and segregating-site counts, as functions of the
model's prediction (an expected SFS from `expectation` / `moments_from_graph`, or a count pmf
from `counts_from_graph`).

Each family's assumption, in one line:

* `poisson_sfs_log_likelihood`: sites are independent (Poisson random field, infinite sites), so
  each entry of the SFS is Poisson with mean expected SFS × μ × sequence length.
* `multinomial_sfs_log_likelihood`: as Poisson, conditioned on the number of segregating sites,
  so the mutation rate and sequence length drop out (the SFS shape only).
* `fold_sfs`, `fold_joint_sfs`: the ancestral allele is unknown, so a class and its complement
  are pooled (apply to expected and observed alike, then use either family).
* `segregating_sites_log_likelihood`: loci are independent, each with its own count of
  segregating sites drawn from the same pmf (free recombination between loci, none within).

NaN in a prediction (θ outside the model's support) gives -inf with a zero gradient.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

import jax

from .._errors import ParameterError

__all__ = [
    "fold_joint_sfs",
    "fold_sfs",
    "multinomial_sfs_log_likelihood",
    "poisson_sfs_log_likelihood",
    "segregating_sites_log_likelihood",
]


def check_counts(observed, name: str = "observed") -> jax.Array:
    """``observed`` as float64, refused (naming it) unless it holds counts when concrete."""
    y = jnp.asarray(observed, dtype=jnp.float64)
    if not isinstance(y, jax.core.Tracer):
        v = np.asarray(y)
        if not np.all(np.isfinite(v)) or np.any(v < 0) or np.any(v != np.round(v)):
            raise ParameterError(f"{name} must hold counts (integers >= 0); got {v.ravel()[:8]}")
    return y


def _check_shapes(expected: jax.Array, observed: jax.Array) -> None:
    if expected.shape != observed.shape:
        raise ParameterError(
            f"the expected SFS has shape {expected.shape} and the observed one {observed.shape};"
            " they must match (fold both, or neither)"
        )


def _ylogx(y: jax.Array, x: jax.Array) -> jax.Array:
    """y log x, 0 where y = 0 with a zero derivative there (xlogy's is 0/0 at x = 0: the
    monomorphic corners of a joint SFS are expected and observed 0)."""
    seen = y > 0
    return jnp.where(seen, y * jnp.log(jnp.where(seen, x, 1.0)), 0.0)


def _outside(prediction: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(prediction with NaN set to 1, whether any was NaN): -inf with a zero gradient there."""
    bad = jnp.isnan(prediction)
    return jnp.where(bad, 1.0, prediction), jnp.any(bad)


def poisson_sfs_log_likelihood(expected, observed) -> jax.Array:
    """Σ_i [ξ_i log λ_i - λ_i - log ξ_i!] for expected counts λ and observed counts ξ.

    Parameters
    ----------
    expected : array, any shape (an SFS (n-1,), a joint SFS, ...)
        Expected number of sites per class: expected branch length × μ × sequence length.
    observed : array of counts, the same shape

    Returns
    -------
    scalar; -inf when a class with observed sites has expected count 0, or a prediction is NaN.
    """
    lam = jnp.asarray(expected, dtype=jnp.float64)
    y = check_counts(observed)
    _check_shapes(lam, y)
    lam, bad = _outside(lam)
    ll = jnp.sum(_ylogx(y, lam) - lam - gammaln(y + 1.0))
    return jnp.where(bad | jnp.any(lam < 0), -jnp.inf, ll)


def multinomial_sfs_log_likelihood(expected, observed) -> jax.Array:
    """Σ_i ξ_i log(λ_i / Σ_j λ_j) + log(S! / Π ξ_i!), S = Σ ξ: the SFS's shape only.

    ``expected`` may be on any scale (branch lengths, counts): only proportions enter, so the
    mutation rate is not identifiable from this likelihood.
    """
    lam = jnp.asarray(expected, dtype=jnp.float64)
    y = check_counts(observed)
    _check_shapes(lam, y)
    lam, bad = _outside(lam)
    total = jnp.sum(lam)
    ll = jnp.sum(_ylogx(y, lam / total)) + gammaln(jnp.sum(y) + 1.0) - jnp.sum(gammaln(y + 1.0))
    return jnp.where(bad | jnp.any(lam < 0) | (total <= 0), -jnp.inf, ll)


def fold_sfs(sfs) -> jax.Array:
    """Fold an unfolded SFS of n samples, classes 1..n-1 (shape (n-1,)), into minor-allele
    classes 1..⌊n/2⌋ (shape (⌊n/2⌋,)): class i pools i and n - i (counted once when equal)."""
    x = jnp.asarray(sfs)
    if x.ndim != 1 or x.shape[0] < 1:
        raise ParameterError(
            f"fold_sfs takes a 1-D SFS of classes 1..n-1; got shape {x.shape} (fold_joint_sfs "
            "for a joint SFS)"
        )
    n = x.shape[0] + 1
    half = n // 2
    folded = x[:half] + x[::-1][:half]
    if n % 2 == 0:  # the middle class is its own complement
        folded = folded.at[half - 1].set(x[half - 1])
    return folded


def fold_joint_sfs(sfs) -> jax.Array:
    """Fold a joint SFS of shape (n1+1, n2+1) (entry [i, j]: derived in i of n1 and j of n2;
    the monomorphic corners are ignored): entry [i, j] with i + j < (n1+n2)/2 pools itself and
    [n1-i, n2-j]; on i + j = (n1+n2)/2 the pair is pooled in the entry with the smaller i;
    every other entry becomes 0. Same shape as the input."""
    x = jnp.asarray(sfs)
    if x.ndim != 2:
        raise ParameterError(f"fold_joint_sfs takes a 2-D joint SFS; got shape {x.shape}")
    n1, n2 = x.shape[0] - 1, x.shape[1] - 1
    i, j = np.indices(x.shape)
    total = i + j
    flipped = x[::-1, ::-1]
    keep_low = 2 * total < n1 + n2
    mid = 2 * total == n1 + n2
    keep_mid = mid & (i < n1 - i)
    self_mid = mid & (i == n1 - i)
    out = jnp.where(keep_low | keep_mid, x + flipped, 0.0)
    return jnp.where(self_mid, x, out)


def segregating_sites_log_likelihood(pmf, counts) -> jax.Array:
    """Σ_loci log P(S = s_l) for per-locus segregating-site counts ``counts`` (L,) and a pmf
    P(S = 0..K) (K+1,) from `counts_from_graph` (K >= every observed count).

    A count above K is refused when the counts are concrete; traced, it gives -inf.
    """
    p = jnp.asarray(pmf, dtype=jnp.float64)
    s = check_counts(counts, "counts")
    if p.ndim != 1:
        raise ParameterError(f"pmf must be 1-D, P(S = 0..K); got shape {p.shape}")
    K = p.shape[0] - 1
    if not isinstance(s, jax.core.Tracer) and np.any(np.asarray(s) > K):
        raise ParameterError(
            f"a locus has {int(np.max(np.asarray(s)))} segregating sites but the pmf stops at "
            f"K = {K}; build it with max_count >= {int(np.max(np.asarray(s)))}"
        )
    p, bad = _outside(p)
    idx = jnp.clip(s, 0, K).astype(jnp.int32)
    ll = jnp.sum(jnp.log(p[idx]))
    return jnp.where(bad | jnp.any(s > K), -jnp.inf, ll)
