"""Log-densities in log space (issue 14 item 6): exact in tails far below 1e-308, with exact
gradients, so a likelihood keeps the observations a floored density used to ignore."""

from __future__ import annotations

import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
import scipy.linalg

import jax
from phasic import Graph, ParameterError
from phasic.inference import density_log_likelihood
from phasic.inference._target import log_likelihood_of
from reference_models import kingman, two_island_migration

FAR = np.array([0.5, 5.0, 50.0, 300.0, 1000.0, 3000.0])


def _kingman_log_pdf(n: int, t: float, theta: float = 1.0) -> float:
    """log density of the Kingman coalescent's T_MRCA (a sum of exponentials), at 60 digits."""
    mp.mp.dps = 60
    rates = [mp.mpf(k * (k - 1)) / 2 * theta for k in range(n, 1, -1)]
    f = mp.mpf(0)
    for i, r in enumerate(rates):
        c = mp.mpf(1)
        for j, q in enumerate(rates):
            if j != i:
                c *= q / (q - r)
        f += c * r * mp.exp(-r * t)
    return float(mp.log(f))


def _dense_log(g: Graph, theta, t: float, survival: bool = False) -> float:
    """log(α exp(S t) r) by renormalized dense steps: the reference for values below 1e-308."""
    m = g.as_matrices(theta)
    S = np.asarray(m.S)
    r = np.ones(len(S)) if survival else -S.sum(axis=1)
    steps = max(1, int(np.ceil(t)))
    E = scipy.linalg.expm(S * (t / steps))
    v, logscale = np.asarray(m.alpha, dtype=float), 0.0
    for _ in range(steps):
        v = v @ E
        s = v.sum()
        v, logscale = v / s, logscale + np.log(s)
    return float(np.log(v @ r) + logscale)


def test_log_pdf_is_exact_far_past_underflow():
    g = kingman(6)
    got = g.log_pdf(FAR, theta=[1.0])
    want = [_kingman_log_pdf(6, t) for t in FAR]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-10)
    assert g.pdf(3000.0, theta=[1.0]) == 0.0  # where the density itself underflows
    np.testing.assert_allclose(np.exp(got[:3]), g.pdf(FAR[:3], theta=[1.0]), rtol=1e-13)


@pytest.mark.parametrize("survival", [False, True])
def test_log_pdf_and_survival_of_a_cyclic_model_match_dense(survival):
    g = two_island_migration(3)
    th = np.array([1.0, 0.5, 0.3])
    t = np.array([0.5, 3.0, 30.0, 4000.0])
    got = (g.log_survival if survival else g.log_pdf)(t, theta=th)
    want = [_dense_log(g, th, tt, survival) for tt in t]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-9)
    assert got[-1] < -700  # exp(got) is below the smallest double


def test_log_density_model_has_exact_gradients_in_far_tails():
    # kingman: f(t; θ) = θ f1(θ t) and f1(x) ∝ exp(-x) far out, so d log f / dθ -> 1/θ - t
    m = Graph.pmf_from_graph(kingman(5))
    lm = m.log_density
    t = jnp.array([0.5, 50.0, 1000.0, 3000.0])
    th = jnp.array([1.3])
    np.testing.assert_allclose(lm(th, t)[:2], jnp.log(m(th, t[:2])), rtol=1e-13)
    assert float(m(th, t)[-1]) == 0.0 and np.isfinite(float(lm(th, t)[-1]))
    grads = jax.vmap(lambda tt: jax.grad(lambda x: lm(x, tt))(th))(t)[:, 0]
    np.testing.assert_allclose(grads[2:], 1 / 1.3 - t[2:], rtol=1e-10)
    h = 1e-6
    fd = (lm(th + h, t) - lm(th - h, t)) / (2 * h)
    np.testing.assert_allclose(grads, fd, rtol=1e-6)
    dt = jax.vmap(jax.grad(lambda tt: lm(th, tt)))(t)  # d log f / dt -> -θ far out
    np.testing.assert_allclose(dt[2:], -1.3, rtol=1e-10)
    batch = jax.vmap(lambda x: lm(x, t))(jnp.array([[1.3], [2.0]]))  # one kernel call
    np.testing.assert_allclose(batch[0], lm(th, t), rtol=1e-14)
    np.testing.assert_allclose(batch[1], lm(jnp.array([2.0]), t), rtol=1e-14)


def test_the_density_likelihood_keeps_far_tail_observations():
    """Issue 14 item 6: a density floored at 1e-300 gave one observation at t = 1000 a zero
    gradient, so SVGD ignored it (posterior mean 1.05 against the exact 0.136)."""
    m = Graph.pmf_from_graph(kingman(5))
    ll = log_likelihood_of("density", m, jnp.array([1000.0]))
    val, grad = ll(jnp.array([1.0])), jax.grad(ll)(jnp.array([1.0]))
    np.testing.assert_allclose(val, _kingman_log_pdf(5, 1000.0), rtol=1e-12)
    np.testing.assert_allclose(grad, [1.0 - 1000.0], rtol=1e-9)
    # a density that is exactly zero still counts as log(1e-300), not -inf
    zero = density_log_likelihood(log_density=jnp.array([-jnp.inf, 0.0]))
    np.testing.assert_allclose(zero, np.log(1e-300))
    with pytest.raises(ParameterError, match="exactly one of density and log_density"):
        density_log_likelihood()


def test_bad_input_to_the_log_entry_points():
    g = kingman(4)
    with pytest.raises(ParameterError, match=r"times must be finite and >= 0.*nan"):
        g.log_pdf([1.0, np.nan], theta=[1.0])
    with pytest.raises(ParameterError, match=r"times must be finite and >= 0.*-2"):
        g.log_survival([-2.0], theta=[1.0])
    with pytest.raises(ParameterError, match=r"θ = \[-1\.0\]"):
        g.log_pdf(1.0, theta=[-1.0])
    lm = Graph.pmf_from_graph(g, log=True)
    with pytest.raises(ParameterError, match=r"times must be finite and >= 0"):
        lm(jnp.array([1.0]), jnp.array([np.inf]))
    # traced: NaN for a bad θ or time, never an exception; the likelihood reads NaN as -inf
    f = jax.jit(lambda th, t: lm(th, t))
    assert np.isnan(f(jnp.array([-1.0]), jnp.array([1.0]))[0])
    assert np.isnan(f(jnp.array([1.0]), jnp.array([np.nan]))[0])
    ll = density_log_likelihood(log_density=f(jnp.array([-1.0]), jnp.array([1.0, 2.0])))
    assert float(ll) == -np.inf
