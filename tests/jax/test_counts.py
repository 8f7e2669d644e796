"""Event counts during the absorption time (segregating sites, SFS counts) as JAX functions:
against Tavaré's closed form, dense (state, count) chains, finite differences."""

from __future__ import annotations

from math import comb

import jax.numpy as jnp
import numpy as np
import pytest

import jax
from phasic import Graph, ParameterError
from reference_models import block_counting, dense_count_table, kingman, sfs_rewards

N = 6
KING = kingman(N)
LINEAGES = np.array([s[0] if i else 0 for i, s in enumerate(KING.states())], dtype=float)
BC = block_counting(4)
R_BC = sfs_rewards(BC, 4)


def tavare(n: int, theta: float, k: int) -> float:
    """P(S = k) for n samples under the constant-size coalescent (Tavaré 1984)."""
    return sum(
        (-1) ** i * comb(n - 1, i - 1) * (i - 1) / (theta + i - 1) * (theta / (theta + i - 1)) ** k
        for i in range(2, n + 1)
    )


@pytest.mark.parametrize("theta_mut", [0.3, 1.7, 8.0])
def test_segregating_sites_match_tavare(theta_mut):
    fn = Graph.counts_from_graph(KING, LINEAGES, 15)
    got = fn(jnp.array([1.0]), theta_mut / 2)  # mutations at θ/2 per lineage
    want = [tavare(N, theta_mut, k) for k in range(16)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # d P(S = 3) / dθ against the closed form's central difference
    g = jax.grad(lambda mu: fn(jnp.array([1.0]), mu)[3])(theta_mut / 2)
    eps = 1e-6
    fd = (tavare(N, theta_mut + eps, 3) - tavare(N, theta_mut - eps, 3)) / (2 * eps)
    np.testing.assert_allclose(g / 2, fd, rtol=1e-7)


def test_joint_counts_match_a_dense_count_chain():
    fn = Graph.counts_from_graph(BC, R_BC[:, :2], 3)
    got = fn(jnp.array([1.3]), 0.6)
    want = dense_count_table(BC, R_BC[:, :2], 0.6, np.array([[1.3]]), np.array([0.0]), 3)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-14)


def test_a_constant_graph_takes_the_rate_alone():
    def rules(state):
        if not state.size:
            return [[[N], 1.0]]
        k = int(state[0])
        return [[[k - 1], k * (k - 1) / 2]] if k > 1 else []

    g = Graph(callback=rules)
    lineages = np.array([s[0] if i else 0 for i, s in enumerate(g.states())], dtype=float)
    got = Graph.counts_from_graph(g, lineages, 6)(0.85)
    np.testing.assert_allclose(got, [tavare(N, 1.7, k) for k in range(7)], rtol=1e-12)


def test_counts_with_epochs_match_a_dense_count_chain_and_differences():
    th = np.array([[0.2], [3.0], [1.0]])
    st = np.array([0.0, 0.3, 0.8])
    fn = Graph.counts_from_graph(BC, R_BC[:, 0], 5, epochs=3)
    got = fn(th, 0.7, st)
    want = dense_count_table(BC, R_BC[:, 0], 0.7, th, st, 5)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-15)
    # equal rows are the constant model
    same = fn(np.ones((3, 1)), 0.7, st)
    np.testing.assert_allclose(
        same, Graph.counts_from_graph(BC, R_BC[:, 0], 5)([1.0], 0.7), rtol=1e-13
    )
    gth, gmu, gst = jax.grad(lambda t, m, s: fn(t, m, s)[2], argnums=(0, 1, 2))(
        jnp.asarray(th), 0.7, jnp.asarray(st)
    )
    eps = 1e-6

    def dense(t, m, s):
        return dense_count_table(BC, R_BC[:, 0], m, t, s, 5)[2]

    up, dn = th.copy(), th.copy()
    up[0, 0] += eps
    dn[0, 0] -= eps
    np.testing.assert_allclose(
        gth[0, 0], (dense(up, 0.7, st) - dense(dn, 0.7, st)) / (2 * eps), rtol=1e-6
    )
    np.testing.assert_allclose(
        gmu, (dense(th, 0.7 + eps, st) - dense(th, 0.7 - eps, st)) / (2 * eps), rtol=1e-6
    )
    su, sd = st.copy(), st.copy()
    su[2] += eps
    sd[2] -= eps
    np.testing.assert_allclose(
        gst[2], (dense(th, 0.7, su) - dense(th, 0.7, sd)) / (2 * eps), rtol=1e-6
    )


def test_vmap_and_traced_bad_rate():
    fn = Graph.counts_from_graph(KING, LINEAGES, 4)
    mus = jnp.linspace(0.1, 2.0, 6)
    batch = jax.jit(jax.vmap(lambda m: fn(jnp.array([1.0]), m)))(mus)
    for i, m in enumerate(mus):
        np.testing.assert_allclose(batch[i], fn(jnp.array([1.0]), m), rtol=1e-13)
    f = jax.jit(lambda m: jnp.sum(jnp.log(fn(jnp.array([1.0]), m))))
    assert np.isnan(f(-0.5))
    assert jax.grad(f)(-0.5) == 0


def test_joint_counts_with_epochs_match_a_dense_count_chain_and_differences():
    # the joint table of two SFS classes under three epochs (the expanded-chain path)
    th = np.array([[0.2], [3.0], [1.0]])
    st = np.array([0.0, 0.3, 0.8])
    K = 2
    fn = Graph.counts_from_graph(BC, R_BC[:, :2], K, epochs=3)
    got = fn(th, 0.7, st)
    want = dense_count_table(BC, R_BC[:, :2], 0.7, th, st, K)
    assert got.shape == (K + 1, K + 1)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-15)
    # equal rows are the constant model's joint table
    same = fn(np.ones((3, 1)), 0.7, st)
    const = Graph.counts_from_graph(BC, R_BC[:, :2], K)([1.0], 0.7)
    np.testing.assert_allclose(same, const, rtol=1e-10, atol=1e-15)
    cell = (1, 2)
    gth, gmu, gst = jax.grad(lambda t, m, s: fn(t, m, s)[cell], argnums=(0, 1, 2))(
        jnp.asarray(th), 0.7, jnp.asarray(st)
    )
    eps = 1e-6

    def ref(t, m, s):
        return dense_count_table(BC, R_BC[:, :2], m, t, s, K)[cell]

    for i in range(3):
        d = eps * np.eye(3)[i][:, None]
        fd = (ref(th + d, 0.7, st) - ref(th - d, 0.7, st)) / (2 * eps)
        np.testing.assert_allclose(gth[i, 0], fd, rtol=1e-6, atol=1e-10)
    fd = (ref(th, 0.7 + eps, st) - ref(th, 0.7 - eps, st)) / (2 * eps)
    np.testing.assert_allclose(gmu, fd, rtol=1e-6, atol=1e-10)
    for i in (1, 2):
        d = eps * np.eye(3)[i]
        fd = (ref(th, 0.7, st + d) - ref(th, 0.7, st - d)) / (2 * eps)
        np.testing.assert_allclose(gst[i], fd, rtol=1e-6, atol=1e-10)


def test_bad_count_input_is_refused_with_the_value():
    with pytest.raises(ParameterError, match="max_count = -1"):
        Graph.counts_from_graph(KING, LINEAGES, -1)
    with pytest.raises(ParameterError, match="rewards has shape"):
        Graph.counts_from_graph(KING, LINEAGES[:-1], 3)
    with pytest.raises(ParameterError, match=">= 0"):
        Graph.counts_from_graph(KING, -LINEAGES, 3)
    fn = Graph.counts_from_graph(KING, LINEAGES, 3)
    with pytest.raises(ParameterError, match="rate = -1.0"):
        fn([1.0], -1.0)
