"""Moments under piecewise-constant θ (epochs), eager and JAX, against dense matrix exponentials
of the forward moment generator (`reference_models.dense_epoch_moments`)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import jax
from phasic import Graph, ParameterError
from reference_models import (
    block_counting,
    dense_epoch_moments,
    sfs_rewards,
    two_island_migration,
    two_parameter_block_counting,
)

BC = block_counting(5)
R_BC = sfs_rewards(BC, 5)
# a recent expansion (slow coalescence), a bottleneck, then the ancestral size
TH_BC = np.array([[0.1], [3.0], [1.0]])
ST_BC = np.array([0.0, 0.2, 0.5])
ISL = two_island_migration(3)
TH_ISL = np.array([[1.0, 0.5, 0.2], [0.3, 2.0, 1.5]])
ST_ISL = np.array([0.0, 0.7])


@pytest.mark.parametrize("col", [0, 1, 3])
def test_epoch_moments_match_dense_exponentials(col):
    ref = dense_epoch_moments(BC, R_BC[:, col], TH_BC, ST_BC, 3)
    eager = BC.moments(3, R_BC[:, col], theta=TH_BC, epochs=ST_BC)
    jx = Graph.moments_from_graph(BC, 3, R_BC[:, col], epochs=3)(TH_BC, ST_BC)
    np.testing.assert_allclose(eager, ref, rtol=1e-11)
    np.testing.assert_allclose(jx, ref, rtol=1e-11)


def test_epoch_moments_of_a_cyclic_model():
    ref = dense_epoch_moments(ISL, None or np.ones(ISL.vertices_length()), TH_ISL, ST_ISL, 2)
    np.testing.assert_allclose(ISL.moments(2, theta=TH_ISL, epochs=ST_ISL), ref, rtol=1e-11)
    fn = Graph.moments_from_graph(ISL, 2, epochs=2)
    np.testing.assert_allclose(fn(TH_ISL, ST_ISL), ref, rtol=1e-11)


def test_epoch_covariance_and_sfs():
    cov = BC.covariance(R_BC, theta=TH_BC, epochs=ST_BC)
    for a, b in [(0, 1), (1, 3), (2, 2)]:
        cross = dense_epoch_moments(BC, R_BC[:, [a, b]], TH_BC, ST_BC, 1)
        ma, mb = (dense_epoch_moments(BC, R_BC[:, c], TH_BC, ST_BC, 1)[0] for c in (a, b))
        np.testing.assert_allclose(cov[a, b], cross - ma * mb, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        BC.covariance(R_BC[:, 0], R_BC[:, 1], theta=TH_BC, epochs=ST_BC), cov[0, 1], rtol=1e-12
    )
    sfs = BC.expectation(R_BC, theta=TH_BC, epochs=ST_BC)
    ref = [dense_epoch_moments(BC, R_BC[:, c], TH_BC, ST_BC, 1)[0] for c in range(4)]
    np.testing.assert_allclose(sfs, ref, rtol=1e-11)
    # the JAX first moment carries one state distribution forward (not the stack backward)
    jsfs = Graph.moments_from_graph(BC, 1, R_BC, epochs=3)(TH_BC, ST_BC)[0]
    np.testing.assert_allclose(jsfs, ref, rtol=1e-11)
    one = Graph.moments_from_graph(ISL, 1, epochs=2)(TH_ISL, ST_ISL)
    ref_isl = dense_epoch_moments(ISL, np.ones(ISL.vertices_length()), TH_ISL, ST_ISL, 1)
    np.testing.assert_allclose(one, ref_isl, rtol=1e-11)
    # total branch length = time spent per state weighted by the lineage count
    tau = BC.expected_residence_time(theta=TH_BC, epochs=ST_BC)
    np.testing.assert_allclose(tau @ R_BC, ref, rtol=1e-11)


def test_one_epoch_repeated_is_the_constant_model():
    th = np.array([[0.7], [0.7], [0.7]])
    np.testing.assert_allclose(
        BC.moments(2, R_BC, theta=th, epochs=ST_BC), BC.moments(2, R_BC, theta=[0.7]), rtol=1e-13
    )


def test_gradients_in_theta_rows_and_start_times_match_finite_differences():
    fn = Graph.moments_from_graph(BC, 2, R_BC, epochs=3)
    weights = jnp.asarray(np.arange(8.0).reshape(2, 4) + 1)

    def loss(th, st):
        return jnp.sum(weights * fn(th, st))

    gth, gst = jax.jit(jax.grad(loss, argnums=(0, 1)))(jnp.asarray(TH_BC), jnp.asarray(ST_BC))

    def dense_loss(th, st):
        m = [dense_epoch_moments(BC, R_BC[:, c], th, st, 2) for c in range(4)]
        return float(np.sum(np.asarray(weights) * np.array(m).T))

    eps = 1e-6
    for i in range(3):
        up, dn = TH_BC.copy(), TH_BC.copy()
        up[i, 0] += eps
        dn[i, 0] -= eps
        fd = (dense_loss(up, ST_BC) - dense_loss(dn, ST_BC)) / (2 * eps)
        np.testing.assert_allclose(gth[i, 0], fd, rtol=1e-6)
    for i in (1, 2):
        up, dn = ST_BC.copy(), ST_BC.copy()
        up[i] += eps
        dn[i] -= eps
        fd = (dense_loss(TH_BC, up) - dense_loss(TH_BC, dn)) / (2 * eps)
        np.testing.assert_allclose(gst[i], fd, rtol=1e-6)
    assert gst[0] == 0  # t_0 = 0 by definition


def test_first_moment_gradients_match_finite_differences():
    fn = Graph.moments_from_graph(BC, 1, R_BC, epochs=3)
    weights = jnp.arange(1.0, 5.0)
    gth, gst = jax.grad(lambda t, s: jnp.sum(weights * fn(t, s)[0]), argnums=(0, 1))(
        jnp.asarray(TH_BC), jnp.asarray(ST_BC)
    )

    def dense(th, st):
        return sum(
            w * dense_epoch_moments(BC, R_BC[:, c], th, st, 1)[0]
            for c, w in enumerate(np.asarray(weights))
        )

    eps = 1e-6
    for i in range(3):
        up, dn = TH_BC.copy(), TH_BC.copy()
        up[i, 0] += eps
        dn[i, 0] -= eps
        np.testing.assert_allclose(
            gth[i, 0], (dense(up, ST_BC) - dense(dn, ST_BC)) / (2 * eps), rtol=1e-6
        )
    for i in (1, 2):
        d = eps * np.eye(3)[i]
        np.testing.assert_allclose(
            gst[i], (dense(TH_BC, ST_BC + d) - dense(TH_BC, ST_BC - d)) / (2 * eps), rtol=1e-6
        )


def test_cyclic_gradients_and_backends_agree():
    th, st = jnp.asarray(TH_ISL), jnp.asarray(ST_ISL)
    out = {}
    for backend in ("ffi", "jax"):
        fn = Graph.moments_from_graph(ISL, 2, epochs=2, backend=backend)
        f1 = Graph.moments_from_graph(ISL, 1, epochs=2, backend=backend)
        out[backend] = jax.grad(
            lambda t, s, f=fn, g=f1: jnp.sum(f(t, s)) + 3 * jnp.sum(g(t, s)), argnums=(0, 1)
        )(th, st)
    for a, b in zip(out["ffi"], out["jax"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9)
    eps = 1e-6
    up, dn = TH_ISL.copy(), TH_ISL.copy()
    up[1, 2] += eps
    dn[1, 2] -= eps
    ones = np.ones(ISL.vertices_length())

    def dense(th):
        m = dense_epoch_moments(ISL, ones, th, ST_ISL, 2)
        return m.sum() + 3 * m[0]

    fd = (dense(up) - dense(dn)) / (2 * eps)
    np.testing.assert_allclose(out["ffi"][0][1, 2], fd, rtol=1e-6)


def test_vmap_over_theta_batches_matches_one_at_a_time():
    fn = Graph.moments_from_graph(BC, 1, R_BC, epochs=3)
    batch = jnp.asarray(TH_BC)[None] * jnp.linspace(0.5, 2.0, 5)[:, None, None]
    got = jax.jit(jax.vmap(fn, in_axes=(0, None)))(batch, jnp.asarray(ST_BC))
    for b in range(5):
        np.testing.assert_allclose(got[b], fn(batch[b], ST_BC), rtol=1e-13)


def test_traced_bad_input_is_nan_with_zero_gradient():
    fn = Graph.moments_from_graph(BC, 1, R_BC, epochs=3)
    f = jax.jit(lambda th, st: jnp.sum(fn(th, st)))
    th, st = jnp.asarray(TH_BC), jnp.asarray(ST_BC)
    assert np.isnan(f(th, st.at[2].set(0.1)))  # decreasing starts
    assert np.isnan(f(th.at[1, 0].set(-1.0), st))  # outside the support
    g = jax.jit(jax.grad(lambda th: jnp.sum(fn(th, st))))(th.at[1, 0].set(-1.0))
    assert np.all(g == 0)
    # a series past max_steps (the two-island model: its epochs are carried by uniformization;
    # block counting's first moments take the change of clock, which has no series)
    few = Graph.moments_from_graph(ISL, 1, epochs=2, max_steps=3)
    assert np.all(np.isnan(jax.jit(few)(jnp.asarray(TH_ISL), jnp.asarray(ST_ISL))))


def test_bad_epoch_input_is_refused_with_the_value():
    with pytest.raises(ParameterError, match="number of epochs"):
        Graph.moments_from_graph(BC, 1, epochs=0)
    with pytest.raises(ParameterError, match="discrete"):
        Graph.moments_from_graph(BC, 1, epochs=2, discrete=True)
    fn = Graph.moments_from_graph(BC, 1, epochs=3)
    with pytest.raises(ParameterError, match=r"shape \(3, 1\)"):
        fn(TH_BC[:2], ST_BC)
    with pytest.raises(ParameterError, match="beginning at 0"):
        fn(TH_BC, [0.1, 0.2, 0.5])
    with pytest.raises(ParameterError, match="increasing"):
        fn(TH_BC, [0.0, 0.5, 0.2])
    with pytest.raises(ParameterError, match="one θ per epoch|shape"):
        BC.expectation(theta=TH_BC[:2], epochs=ST_BC)
    with pytest.raises(ParameterError, match="increasing"):
        BC.moments(2, theta=TH_BC, epochs=[0.0, 0.5, 0.2])
    with pytest.raises(ParameterError, match="max_steps"):
        BC.expectation(theta=TH_BC, epochs=ST_BC, max_steps=3)
    with pytest.raises(ParameterError, match="weight"):
        BC.expectation(theta=[[1.0], [-1.0], [1.0]], epochs=ST_BC)


def test_the_change_of_clock_matches_the_carry_through_the_graph():
    # Block counting's rates are θ times constants: its first moments (with and without epochs)
    # come from one Coxian of the θ = 1 graph. The two-parameter copy takes the general path;
    # values and gradients (θ rows, start times) agree.
    n = 7
    one, two = block_counting(n), two_parameter_block_counting(n)
    r1, r2 = sfs_rewards(one, n), sfs_rewards(two, n)
    th = np.array([[0.4], [2.5], [1.0]])
    st = np.array([0.0, 0.15, 0.9])
    f1 = Graph.moments_from_graph(one, 1, r1, epochs=3)
    f2 = Graph.moments_from_graph(two, 1, r2, epochs=3)
    th2 = np.column_stack([th[:, 0] / 2, th[:, 0] / 2])
    np.testing.assert_allclose(f1(th, st), f2(th2, st), rtol=1e-11)
    w = jnp.arange(1.0, n)
    g1 = jax.grad(lambda t, s: w @ f1(t, s)[0], argnums=(0, 1))(jnp.asarray(th), jnp.asarray(st))
    g2 = jax.grad(lambda t, s: w @ f2(t, s)[0], argnums=(0, 1))(jnp.asarray(th2), jnp.asarray(st))
    np.testing.assert_allclose(g1[0][:, 0], g2[0][:, 0], rtol=1e-9)  # d/dθ0 = d/dθ
    np.testing.assert_allclose(g1[1], g2[1], rtol=1e-9, atol=1e-12)
    # second derivatives through the clock (d occ/du = x, dx/du = x C) against differences of
    # the general path's gradient
    h1 = jax.hessian(lambda s: w @ f1(th, s)[0])(jnp.asarray(st))
    eps = 1e-6
    for i in (1, 2):
        d = eps * np.eye(3)[i]
        fd = (
            jax.grad(lambda s: w @ f2(th2, s)[0])(jnp.asarray(st + d))
            - jax.grad(lambda s: w @ f2(th2, s)[0])(jnp.asarray(st - d))
        ) / (2 * eps)
        np.testing.assert_allclose(h1[i, 1:], fd[1:], rtol=1e-6, atol=1e-8)
    # the eager methods take the same clock (phasic._clock): the expected SFS and the time in
    # each vertex under the epochs
    np.testing.assert_allclose(
        one.expectation(rewards=r1, theta=th, epochs=st),
        two.expectation(rewards=r2, theta=th2, epochs=st),
        rtol=1e-11,
    )
    np.testing.assert_allclose(
        one.expected_residence_time(theta=th, epochs=st),
        two.expected_residence_time(theta=th2, epochs=st),
        rtol=1e-11,
        atol=1e-300,
    )
    np.testing.assert_allclose(f1(th, st)[0], one.expectation(rewards=r1, theta=th, epochs=st))
    # without epochs: E[Y] = O(∞) r / θ
    c1 = Graph.moments_from_graph(one, 1, r1)
    c2 = Graph.moments_from_graph(two, 1, r2)
    np.testing.assert_allclose(c1([0.7]), c2([0.35, 0.35]), rtol=1e-12)
