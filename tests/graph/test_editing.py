"""Editing built graphs (copies, auxiliary vertices, edge targets and weights, normalization)
and the earlier phasic's names, against dense references."""

from __future__ import annotations

import numpy as np
import pytest

from phasic import Graph, GraphError, ParameterError, models


def dense_mean(g: Graph, theta=None) -> float:
    a, S, _, _ = g.as_matrices(theta=theta)
    return float(a @ np.linalg.solve(-S, np.ones(len(a))))


@pytest.mark.parametrize("vectorized", [True, False])
def test_copy_is_independent_and_edges_can_be_retargeted_and_reweighted(vectorized):
    g = models.kingman(4, vectorized=vectorized)
    h = g.clone()
    e = h.find_vertex([2]).edges()[0]
    assert e.to() == e.to == h.find_vertex([1]) and e.weight() == e.weight == 0.0
    e.update_weight(0.0, [2.0])  # pair rate of 2 lineages doubled
    np.testing.assert_allclose(g.expectation(theta=[1.0]), 1.5, rtol=1e-12)
    np.testing.assert_allclose(h.expectation(theta=[1.0]), 1 / 6 + 1 / 3 + 1 / 2, rtol=1e-12)
    np.testing.assert_allclose(h.expectation(theta=[1.0]), dense_mean(h, [1.0]), rtol=1e-12)

    # an auxiliary copy of state [2] outside the lookup, reached from [3], leaving at rate 4θ
    aux = h.create_vertex([2])
    assert h.find_vertex([2]).index == 3 and aux.index == h.vertices_length() - 1
    assert aux.state().tolist() == [2]
    h.find_vertex([3]).edges()[0].update_to(aux)
    aux.add_edge_parameterized(h.find_vertex([1]), 0.0, [4.0])
    np.testing.assert_allclose(h.expectation(theta=[1.0]), 1 / 6 + 1 / 3 + 1 / 4, rtol=1e-12)
    np.testing.assert_allclose(h.expectation(theta=[1.0]), dense_mean(h, [1.0]), rtol=1e-12)
    # a copy keeps the auxiliary vertex outside the lookup
    k = h.copy()
    assert k.find_vertex([2]).index == 3 and k.vertices_length() == h.vertices_length()
    np.testing.assert_allclose(k.expectation(theta=[1.0]), h.expectation(theta=[1.0]))


def test_start_distribution_is_edited_through_the_start_edges():
    g = models.rabbits(3)
    before = dense_mean(g)
    start = g.starting_vertex()
    start.add_edge(g.find_vertex([0, 3]), 1.0)  # half the mass starts on the right island
    a, _, states, _ = g.as_matrices()
    assert a[states.tolist().index([3, 0])] == pytest.approx(0.5)
    start.edges()[0].update_weight(3.0)  # now 3 : 1
    a, _, states, _ = g.as_matrices()
    assert a[states.tolist().index([3, 0])] == pytest.approx(0.75)
    assert g.expectation() != pytest.approx(before)
    np.testing.assert_allclose(g.expectation(), dense_mean(g), rtol=1e-12)


def test_normalize_returns_exit_rates_and_gives_the_jump_chain():
    g = models.rabbits(3)
    a, S, states, vidx = g.as_matrices()
    totals = g.normalize()
    np.testing.assert_allclose(totals[vidx], -np.diag(S), rtol=1e-12)
    assert totals[0] == pytest.approx(1.0)  # the start's total
    P = np.diag(1 / -np.diag(S)) @ (S - np.diag(np.diag(S)))  # embedded jump chain
    a2, P2, _, _ = g.as_matrices()  # the normalized graph as a continuous model: rates = P
    np.testing.assert_allclose(P2 - np.diag(np.diag(P2)), P, atol=1e-15)
    np.testing.assert_allclose(-np.diag(P2), 1.0)
    # expected number of jumps of the jump chain = E[T] of the normalized (rate-1) model
    np.testing.assert_allclose(
        g.expectation(), a @ np.linalg.solve(np.eye(len(a)) - P, np.ones(len(a)))
    )
    with pytest.raises(ParameterError, match="depend on θ"):
        models.kingman(3).normalize()


def test_bad_edits_are_clear_errors():
    g = models.kingman(3)
    e = g.find_vertex([3]).edges()[0]
    with pytest.raises(GraphError, match="start vertex cannot be the target"):
        e.update_to(g.starting_vertex())
    with pytest.raises(GraphError, match="another graph"):
        e.update_to(models.kingman(3).find_vertex([2]))
    with pytest.raises(GraphError, match="finite and >= 0"):
        e.update_weight(-1.0)
    with pytest.raises(GraphError, match="1 finite numbers"):
        e.update_weight(0.0, [1.0, 2.0])


def test_the_earlier_phasic_names():
    g = Graph(state_length=1)
    v = g.focv([2])
    w = g.focv([1])
    g.starting_vertex().ae(v, 1.0)
    v.ae(w, 2.0)
    assert v.index() == v.index == 1
    assert [e.to().index() for e in v.edges()] == [2]
    np.testing.assert_allclose(g.expectation(), 0.5)
    k = models.kingman(4)
    k.update_parameterized_weights([2.0])
    np.testing.assert_allclose(k.eliminate_to_dag().expectation(), 0.75, rtol=1e-12)
    m = k.as_matrices()
    np.testing.assert_array_equal(m.ipv, m.alpha)
    np.testing.assert_array_equal(m.sim, m.S)
    np.testing.assert_array_equal(m.indices, m.vertex_index)
