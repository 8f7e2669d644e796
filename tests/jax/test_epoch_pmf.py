"""The JAX density under piecewise-constant θ against the eager one (itself tested against
dense exponentials) and against finite differences in θ rows, times and start times."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg as sl

import jax
from phasic import Graph, ParameterError
from reference_models import two_island_migration

G = two_island_migration(3)
TH = np.array([[1.0, 0.5, 0.2], [0.3, 2.0, 1.5], [1.0, 1.0, 0.5]])
ST = np.array([0.0, 0.7, 1.5])
T = np.array([0.05, 0.3, 0.69, 1.0, 1.49, 1.6, 2.5, 6.0])  # none on a boundary


def dense_pdf(th, t, st):
    """α exp(S_0 Δ_0) ... exp(S_e τ) s_e by scipy's expm."""
    out = []
    for x in t:
        m = G.as_matrices(theta=th[0])
        a = m.alpha
        for e in range(len(st)):
            me = G.as_matrices(theta=th[e])
            end = st[e + 1] if e + 1 < len(st) else np.inf
            if x < end:
                out.append(a @ sl.expm(me.S * (x - st[e])) @ -me.S.sum(axis=1))
                break
            a = a @ sl.expm(me.S * (end - st[e]))
    return np.array(out)


def test_epoch_density_matches_dense_exponentials_and_eager():
    fn = Graph.pmf_from_graph(G, epochs=3)
    ref = dense_pdf(TH, T, ST)
    np.testing.assert_allclose(fn(TH, T, ST), ref, rtol=1e-11)
    np.testing.assert_allclose(G.pdf(T, theta=TH, epochs=ST), ref, rtol=1e-11)
    # a scalar time, and a batch of θ through vmap
    np.testing.assert_allclose(fn(TH, 1.0, ST), ref[3], rtol=1e-11)
    batch = jnp.asarray(TH)[None] * jnp.array([0.5, 1.0, 2.0])[:, None, None]
    got = jax.jit(jax.vmap(fn, in_axes=(0, None, None)))(batch, T, ST)
    np.testing.assert_allclose(got[1], ref, rtol=1e-11)


def test_epoch_density_gradients_match_finite_differences():
    fn = Graph.pmf_from_graph(G, epochs=3)

    def loss(th, t, st):
        return jnp.sum(jnp.log(fn(th, t, st)))

    gth, gt, gst = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(
        jnp.asarray(TH), jnp.asarray(T), jnp.asarray(ST)
    )

    def ref(th, t, st):
        return np.sum(np.log(dense_pdf(th, t, st)))

    eps = 1e-6
    for i, q in [(0, 0), (1, 2), (2, 1)]:
        up, dn = TH.copy(), TH.copy()
        up[i, q] += eps
        dn[i, q] -= eps
        np.testing.assert_allclose(
            gth[i, q], (ref(up, T, ST) - ref(dn, T, ST)) / (2 * eps), rtol=1e-6
        )
    for i in (0, 4, 7):
        d = eps * np.eye(len(T))[i]
        np.testing.assert_allclose(
            gt[i], (ref(TH, T + d, ST) - ref(TH, T - d, ST)) / (2 * eps), rtol=1e-6
        )
    for i in (1, 2):
        d = eps * np.eye(3)[i]
        np.testing.assert_allclose(
            gst[i], (ref(TH, T, ST + d) - ref(TH, T, ST - d)) / (2 * eps), rtol=1e-6
        )


def test_epoch_density_bad_input():
    with pytest.raises(ParameterError, match="discrete"):
        Graph.pmf_from_graph(G, discrete=True, epochs=2)
    fn = Graph.pmf_from_graph(G, epochs=3)
    with pytest.raises(ParameterError, match="beginning at 0"):
        fn(TH, T, ST + 0.1)
    with pytest.raises(ParameterError, match="finite and >= 0"):
        fn(TH, -T, ST)
    f = jax.jit(lambda th: jnp.sum(jnp.log(fn(th, T, ST))))
    bad = jnp.asarray(TH).at[1, 2].set(-1.0)
    assert np.isnan(f(bad))  # NaN density: the likelihood families read it as -inf
    assert np.all(jax.grad(f)(bad) == 0)


def test_pmf_and_moments_with_epochs():
    both = Graph.pmf_and_moments_from_graph(G, 2, epochs=3)
    pdf, mom = both(TH, T, ST)
    np.testing.assert_allclose(pdf, dense_pdf(TH, T, ST), rtol=1e-11)
    np.testing.assert_allclose(mom, G.moments(2, theta=TH, epochs=ST), rtol=1e-11)


def test_a_scaled_chain_takes_the_clock_and_matches_the_carry():
    # Block counting's rates are θ times constants: its epoch density is the θ = 1 density on
    # the clock u(t) = ∫θ, θ_e f_1(u(t)), one series and no carry. The two-parameter copy (the
    # same chain, not a pure scale) carries the state distribution across the epochs; values,
    # log densities and gradients in θ rows, times and start times agree, epoch boundaries and a
    # far tail included.
    from reference_models import block_counting, two_parameter_block_counting

    n = 6
    one, two = block_counting(n), two_parameter_block_counting(n)
    th = np.array([[0.4], [2.5], [1.0]])
    th2 = np.column_stack([th[:, 0] / 2, th[:, 0] / 2])
    st = np.array([0.0, 0.15, 0.9])
    f1, f2 = Graph.pmf_from_graph(one, epochs=3), Graph.pmf_from_graph(two, epochs=3)
    at = np.array([0.15, 0.9])  # on the boundaries: values only (the t-derivative jumps there)
    np.testing.assert_allclose(f1(th, at, st), f2(th2, at, st), rtol=1e-10)
    t = np.array([0.01, 0.16, 0.3, 0.95, 2.0, 6.0])
    np.testing.assert_allclose(f1(th, t, st), f2(th2, t, st), rtol=1e-10)
    g1 = jax.jacrev(f1, argnums=(0, 1, 2))(jnp.asarray(th), jnp.asarray(t), jnp.asarray(st))
    g2 = jax.jacrev(f2, argnums=(0, 1, 2))(jnp.asarray(th2), jnp.asarray(t), jnp.asarray(st))
    np.testing.assert_allclose(g1[0][..., 0], g2[0][..., 0], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(g1[1], g2[1], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(g1[2][:, 1:], g2[2][:, 1:], rtol=1e-8, atol=1e-12)
    # the log density in log space: finite where the density underflows (t = 200 at θ = 5)
    log1 = Graph.pmf_from_graph(one, epochs=3, log=True)
    far = np.array([[1.0], [5.0], [5.0]])
    val = log1(far, np.array([0.5, 200.0]), st)
    assert np.isfinite(val[1]) and val[1] < -700
    np.testing.assert_allclose(val[0], np.log(f1(far, np.array([0.5]), st)[0]), rtol=1e-12)
    # bad starts: refused eagerly, NaN when traced
    with pytest.raises(ParameterError, match="increasing"):
        f1(th, t, np.array([0.0, 0.9, 0.15]))
    traced = jax.jit(f1)
    assert np.all(np.isnan(traced(th, t, jnp.array([0.0, 0.9, 0.15]))))
    assert np.all(np.isnan(traced(th, t, jnp.array([0.1, 0.15, 0.9]))))
