"""Defect, Laplace transform, visits of discrete models, joint count tables and sampled paths,
against closed forms, dense references and the model's own distributions."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import jax
from phasic import Graph, ParameterError, PhasicError, models
from phasic.jax import laplace_transform_from_graph
from reference_models import dense_count_table


def kingman_with_defect(n: int, to_absorbed: float) -> Graph:
    g = models.kingman(n)
    g.starting_vertex().add_edge_parameterized(g.find_vertex([1]), to_absorbed, [0.0])
    return g


def test_defect_matches_the_start_weights():
    g = kingman_with_defect(4, 1.0)  # start weights 1 + θ to [4] and 1 to absorption
    np.testing.assert_allclose(g.defect(theta=[1.0]), 1 / 3)
    np.testing.assert_allclose(g.defect(theta=[[1.0], [3.0]]), [1 / 3, 1 / 5])
    assert models.kingman(4).defect(theta=[2.0]) == 0.0


def test_laplace_transform_closed_form_and_dense():
    g = kingman_with_defect(5, 0.5)
    s = np.array([0.0, 0.3, 2.0, 50.0])
    th = 1.7
    lam = th * np.array([k * (k - 1) / 2 for k in (5, 4, 3, 2)])
    d = 0.5 / (1.5 + th)
    closed = d + (1 - d) * np.prod(lam[:, None] / (lam[:, None] + s[None, :]), axis=0)
    np.testing.assert_allclose(g.laplace_transform(s, theta=[th]), closed, rtol=1e-12)
    np.testing.assert_allclose(g.laplace_transform(2.0, theta=[th]), closed[2], rtol=1e-12)
    batch = g.laplace_transform(s, theta=[[th], [th]])
    assert batch.shape == (2, 4)

    # a cyclic model against the dense α (sI - S)⁻¹ s_exit
    m = models.two_island_migration(5)
    theta = [1.0, 0.5, 0.8]
    a, S, _, _ = m.as_matrices(theta=theta)
    exits = -S.sum(axis=1)
    dense = [a @ np.linalg.solve(x * np.eye(len(a)) - S, exits) for x in s]
    np.testing.assert_allclose(m.laplace_transform(s, theta=theta), dense, rtol=1e-11)
    with pytest.raises(ParameterError, match=">= 0"):
        m.laplace_transform(-1.0, theta=theta)


def test_laplace_transform_in_jax_matches_and_differentiates():
    g = models.two_island_migration(4)
    f = laplace_transform_from_graph(g)
    th = jnp.array([1.0, 0.5, 0.8])
    np.testing.assert_allclose(
        f(th, 0.7), g.laplace_transform(0.7, theta=np.asarray(th)), rtol=1e-12
    )
    d_th, d_s = jax.grad(f, argnums=(0, 1))(th, 0.7)
    h = 1e-6
    fd_s = (
        g.laplace_transform(0.7 + h, theta=np.asarray(th))
        - g.laplace_transform(0.7 - h, theta=np.asarray(th))
    ) / (2 * h)
    np.testing.assert_allclose(d_s, fd_s, rtol=1e-6)
    e0 = np.array([h, 0.0, 0.0])
    fd_0 = (
        g.laplace_transform(0.7, theta=np.asarray(th) + e0)
        - g.laplace_transform(0.7, theta=np.asarray(th) - e0)
    ) / (2 * h)
    np.testing.assert_allclose(d_th[0], fd_0, rtol=1e-6)


def discrete_chain() -> Graph:
    # a small discrete model with self-loop shortfalls and two absorbing states
    P = np.array([[0.2, 0.5, 0.1], [0.3, 0.1, 0.4], [0.0, 0.6, 0.3]])
    return Graph.from_matrices([0.6, 0.4, 0.0], P, discrete=True)


def test_visits_of_a_discrete_model_against_dense_sums():
    g = discrete_chain()
    a, P, _, vidx = g.as_matrices(discrete=True)
    total = a @ np.linalg.inv(np.eye(3) - P)
    np.testing.assert_allclose(g.expected_visits_discrete()[vidx], total, rtol=1e-12)
    for k in (0, 1, 4, 30):
        acc = sum((a @ np.linalg.matrix_power(P, s) for s in range(k)), np.zeros(3))
        np.testing.assert_allclose(
            g.accumulated_visits_discrete(k)[vidx], acc, rtol=1e-11, atol=1e-300
        )
    out = g.accumulated_visits_discrete([1, 2])
    assert out.shape == (2, g.vertices_length())


@pytest.mark.parametrize("K", [1, 3])
def test_joint_prob_table_against_dense_and_jax(K):
    g = models.block_counting(4)
    r = models.sfs_rewards(g, 4)[:, :2]
    table = g.joint_prob_table(r, K, rate=0.4, theta=[1.3])
    dense = dense_count_table(g, r, 0.4, [[1.3]], [0.0], K)
    np.testing.assert_allclose(table, dense, rtol=1e-8, atol=1e-14)
    f = Graph.counts_from_graph(g, r, max_count=K)
    np.testing.assert_allclose(f(jnp.array([1.3]), 0.4), table, rtol=1e-13)
    one = g.joint_prob_table(r[:, 0], K, rate=0.4, theta=[1.3])
    dense_one = dense_count_table(g, r[:, 0], 0.4, [[1.3]], [0.0], K)
    np.testing.assert_allclose(one, dense_one, rtol=1e-8, atol=1e-14)
    assert one.shape == (K + 1,)


def test_sampled_paths_follow_the_model():
    g = models.rabbits(2)
    rng = np.random.default_rng(3)
    p = g.sample_path(rng=rng)
    assert p.vertices[-1] != 0 and g.vertex_at(int(p.vertices[-1])).is_absorbing()
    np.testing.assert_array_equal(p.states, g.states()[p.vertices])
    assert np.isinf(p.holding_times[-1]) and np.all(p.holding_times[:-1] > 0)
    # holding time in the first state [2, 0]: Exp(2 hops + flood 2) → mean 1/4
    first = [g.sample_path(rng=rng).holding_times[0] for _ in range(3000)]
    assert abs(np.mean(first) - 0.25) < 4 * 0.25 / np.sqrt(3000)
    # the vertex occupied at t is distributed as stop_probability(t)
    t = 0.3
    n = 4000
    hits = np.bincount(g.sample_stop_vertex(t, n=n, rng=rng), minlength=g.vertices_length())
    prob = g.stop_probability(t)
    sd = np.sqrt(prob * (1 - prob) / n)
    assert np.all(np.abs(hits / n - prob) < 5 * sd + 1e-3)


def test_discrete_paths_take_as_many_steps_as_the_model_says():
    g = discrete_chain()
    rng = np.random.default_rng(5)
    steps = np.array(
        [g.sample_path(rng=rng, discrete=True).holding_times[:-1].sum() for _ in range(4000)]
    )
    mean = float(g.expectation_discrete())
    sd = np.sqrt(float(g.variance_discrete()) / steps.size)
    assert abs(steps.mean() - mean) < 5 * sd
    assert np.all(steps == np.round(steps)) and steps.min() >= 1


def test_bad_input_to_the_new_entry_points_is_named():
    g = models.two_island_migration(3)
    th = [1.0, 0.5, 0.8]
    cases = [
        (lambda: g.defect(theta=[np.nan, 1.0, 1.0]), "NaN"),
        (lambda: g.joint_prob_table(np.ones(g.vertices_length()), -1, theta=th), "max_count = -1"),
        (
            lambda: g.joint_prob_table(np.ones(g.vertices_length()), 2, rate=np.nan, theta=th),
            "rate = nan",
        ),
        (lambda: g.sample_stop_vertex(np.nan, theta=th), "time = nan"),
        (lambda: g.sample_stop_vertex(1.0, n=-1, theta=th), "n = -1"),
        (lambda: g.create_vertex([1, 2, 3]), r"length 3"),
        (lambda: g.create_vertex("ab"), "integers"),
        (lambda: discrete_chain().accumulated_visits_discrete(1.5), "1.5"),
        (lambda: discrete_chain().accumulated_visits_discrete(-1), "-1"),
    ]
    for call, match in cases:
        with pytest.raises(PhasicError, match=match):
            call()
    # traced: an invalid s is a NaN point, not an exception
    f = jax.jit(laplace_transform_from_graph(g))
    assert np.isnan(f(jnp.asarray(th), -1.0))
    assert np.isfinite(f(jnp.asarray(th), 1.0))
