"""Graph construction (callback and imperative), compile, persistence, matrices and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from phasic import (
    AbsorptionError,
    Graph,
    GraphArrays,
    GraphError,
    ParameterError,
    VertexNotFoundError,
)
from random_models import make_model
from reference_models import block_counting, kingman, two_island_migration


def test_seed_coalescent_has_nine_vertices_and_one_parameter():
    g = kingman(8)
    assert g.vertices_length() == 9
    assert g.param_length() == 1
    assert g.is_acyclic()
    # breadth-first: start, then 8, 7, ..., 1 lineages
    assert g.states()[1:, 0].tolist() == [8, 7, 6, 5, 4, 3, 2, 1]


def test_callback_explores_each_state_once_and_passes_kwargs():
    calls = []

    def cb(state, n, extra):
        calls.append(tuple(state.tolist()))
        assert extra == "x"
        if not state.size:
            return [[[n, 0], 1.0]]
        a, b = state
        out = []
        if a:
            out.append([[a - 1, b + 1], 1.0])  # diamond-shaped: many paths reach each state
        if b:
            out.append([[a, b - 1], 2.0])
        return out

    g = Graph(callback=cb, n=3, extra="x")
    assert len(calls) == len(set(calls)) == g.vertices_length()
    assert calls[0] == ()
    assert g.find_vertex([0, 0]).is_absorbing()


def test_start_weight_is_normalized_for_every_theta():
    g = kingman(4)  # the start edge is 1 + θ: still probability 1
    a, S, states, _ = g.as_matrices(theta=[3.0])
    assert a.tolist() == [1.0, 0.0, 0.0]
    assert states[:, 0].tolist() == [4, 3, 2]
    np.testing.assert_allclose(np.diag(S), [-18.0, -9.0, -3.0])


def test_all_zero_state_is_an_ordinary_vertex():
    g = Graph(state_length=2)
    z = g.find_or_create_vertex([0, 0])
    assert z.index == 1 and not z.is_start()
    assert g.vertex_exists([0, 0]) and g.find_vertex([0, 0]) == z
    a = g.find_or_create_vertex([9, 9])
    g.starting_vertex().add_edge(z, 1.0)
    z.add_edge(a, 4.0)
    assert g.expectation() == pytest.approx(0.25)


def test_imperative_api_round_trip():
    g = Graph(state_length=1, parameterized=True)
    s = g.starting_vertex()
    v1, v2, ab = (g.find_or_create_vertex([k]) for k in (1, 2, 0))
    s.add_edge(v1, 1.0)
    v1.add_edge_parameterized(v2, 0.5, [2.0])
    v2.add_edge(ab, 3.0)
    v2.add_edge_parameterized(v1, 0.0, [1.0])  # a cycle
    g.update_weights([0.25])
    assert [e.to for e in v1.edges()] == [v2]
    assert v1.edges()[0].weight == pytest.approx(1.0)
    assert v2.rate() == pytest.approx(3.25)
    assert v2.rate(theta=[1.0]) == pytest.approx(4.0)
    assert not g.is_acyclic() and g.param_length() == 1
    assert g.vertex_at(2) == v2 and len(g.vertices()) == 4
    # E[T]: from v1 (rate 1): 1 + E2; from v2 (rate 3.25): 1/3.25 + (0.25/3.25) E1
    e1 = (1 + 1 / 3.25) / (1 - 0.25 / 3.25)
    assert g.expectation() == pytest.approx(e1, rel=1e-14)
    assert g.expectation(theta=[0.25]) == pytest.approx(e1, rel=1e-14)


def test_from_matrices_round_trip_with_defect():
    alpha = np.array([0.5, 0.3, 0.0])
    S = np.array([[-3.0, 1.0, 1.0], [0.5, -2.0, 1.0], [0.0, 2.0, -4.0]])
    g = Graph.from_matrices(alpha, S)
    a2, S2, states, _ = g.as_matrices()
    np.testing.assert_allclose(a2, alpha)
    np.testing.assert_allclose(S2, S)
    assert states[:, 0].tolist() == [0, 1, 2]
    U = np.linalg.inv(-S)
    assert g.expectation() == pytest.approx(alpha @ U @ np.ones(3), rel=1e-13)
    assert g.moments(2)[1] == pytest.approx(2 * alpha @ U @ U @ np.ones(3), rel=1e-13)


def test_from_matrices_discrete_round_trip():
    alpha = np.array([1.0, 0.0])
    P = np.array([[0.2, 0.5], [0.1, 0.6]])
    g = Graph.from_matrices(alpha, P, discrete=True)
    a2, P2, *_ = g.as_matrices(discrete=True)
    np.testing.assert_allclose(P2, P)
    G = np.linalg.inv(np.eye(2) - P)
    assert g.expectation_discrete() == pytest.approx(alpha @ G @ np.ones(2), rel=1e-13)


def test_as_matrices_matches_independent_dense_description():
    for seed in range(30):
        m = make_model(seed, cyclic=True)
        a, S, _, vi = m.graph.as_matrices(theta=m.theta)
        order = np.argsort(m.vertex_of_row)
        np.testing.assert_allclose(S, m.S[np.ix_(order, order)], rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(a, m.alpha[order], rtol=1e-14)
        assert vi.tolist() == sorted(m.vertex_of_row.tolist())


def test_graph_arrays_save_load_round_trip(tmp_path):
    g = two_island_migration(4)
    ga = g.compile()
    ga.save(tmp_path / "g.npz")
    back = GraphArrays.load(tmp_path / "g.npz")
    for name in ("indptr", "indices", "base", "coef", "scc_ptr", "start_indices", "states"):
        np.testing.assert_array_equal(getattr(back, name), getattr(ga, name))
    assert back.n_vertices == ga.n_vertices
    # SCC order: every edge goes to the same or a later SCC
    scc_of = np.repeat(np.arange(ga.n_scc), np.diff(ga.scc_ptr))
    src = ga.edge_sources()
    inner = ga.indices < ga.n_transient
    assert np.all(scc_of[src[inner]] <= scc_of[ga.indices[inner]])
    np.save(tmp_path / "bad.npy", np.zeros(3))
    np.savez(tmp_path / "bad.npz", x=np.zeros(3))
    with pytest.raises(GraphError, match="not a phasic GraphArrays"):
        GraphArrays.load(tmp_path / "bad.npz")


def test_compile_is_cached_until_the_graph_changes():
    g = kingman(5)
    ga = g.compile()
    assert g.compile() is ga
    g.find_or_create_vertex([1]).add_edge(g.find_or_create_vertex([0]), 1.0)
    assert g.compile() is not ga


def test_block_counting_reference_size_n20():
    ga = block_counting(20).compile()
    assert (ga.n_transient, ga.n_edges) == (626, 3545)


# ----------------------------------------------------------------------------- bad input
def _cb(result_for_start, result_for_other=()):
    return lambda state: result_for_start if not state.size else list(result_for_other)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(callback=_cb([[[1], 1.0, [1.0]]])), "not parameterized; pass parameterized=True"),
        (dict(callback=_cb([[1], 1.0])), r"returned the transition \[1\]"),
        (dict(callback=lambda s: 5), "returned int; return a list"),
        (dict(callback=_cb([[[1.5], 1.0]])), "must hold integers"),
        (dict(callback=_cb([[["a"], 1.0]])), "must hold integers"),
        (dict(callback=_cb([[[[1, 2]], 1.0]])), "1-D sequence of integers"),
        (dict(callback=_cb([[[1], -1.0]])), "weight -1.0 must be finite and >= 0"),
        (dict(callback=_cb([[[1], float("nan")]])), "weight nan must be finite"),
        (dict(callback=_cb([[[1], "x"]])), "is not a real number"),
        (dict(callback=_cb([[[1], 1.0], [[2, 3], 1.0]])), r"has length 2, but .* length 1"),
        (
            dict(callback=_cb([[[1], 1.0, [1.0]], [[2], 1.0, [1.0, 2.0]]]), parameterized=True),
            "have length 2, but earlier edges have 1",
        ),
        (dict(callback=_cb([[[1], 1.0, [np.inf]]]), parameterized=True), "must be finite"),
        (dict(callback=_cb([])), "empty start"),
        (dict(state_length=0), "state_length=0"),
        (dict(n=3), "passed to a callback, but none was given"),
    ],
)
def test_bad_construction_is_a_clear_error(kwargs, match):
    with pytest.raises(GraphError, match=match):
        g = Graph(**kwargs)
        g.compile()


def test_bad_theta_is_a_clear_error():
    g = kingman(4)
    with pytest.raises(ParameterError, match="no θ is set"):
        g.expectation()
    with pytest.raises(ParameterError, match=r"θ has 2 entries per row .* 1 parameters"):
        g.expectation(theta=[1.0, 2.0])
    with pytest.raises(ParameterError, match="NaN or infinite"):
        g.expectation(theta=[np.nan])
    with pytest.raises(ParameterError, match=r"must be >= 0"):
        g.expectation(theta=[-0.5])
    with pytest.raises(AbsorptionError, match=r"unreachable from state \[2\] at θ = \[0.0\]"):
        g.expectation(theta=[0.0])
    with pytest.raises(ParameterError, match="not parameterized"):
        Graph.from_matrices([1.0], [[-1.0]]).expectation(theta=[1.0])
    with pytest.raises(ParameterError, match="not parameterized"):
        Graph.from_matrices([1.0], [[-1.0]]).update_weights([1.0])


def test_negative_rate_error_names_the_edge():
    g = Graph(state_length=1, parameterized=True)
    a, b = g.find_or_create_vertex([1]), g.find_or_create_vertex([0])
    g.starting_vertex().add_edge(a, 1.0)
    a.add_edge_parameterized(b, 1.0, [-1.0])
    assert g.expectation(theta=[0.5]) == pytest.approx(2.0)
    with pytest.raises(ParameterError, match=r"edge \[1\] -> absorption has weight -1"):
        g.expectation(theta=[2.0])


def closed_class_graph() -> Graph:
    # start -> [1] or [3] with probability 1/2 each; [1] <-> [2] forever (a closed class), [3]
    # is absorbed at rate 2 into [4]
    g = Graph(state_length=1)
    a, b, c, d = (g.find_or_create_vertex([i]) for i in (1, 2, 3, 4))
    g.starting_vertex().add_edge(a, 1.0)
    g.starting_vertex().add_edge(c, 1.0)
    a.add_edge(b, 1.0)
    b.add_edge(a, 3.0)
    c.add_edge(d, 2.0)
    return g


def test_closed_class_allows_distributions_and_refuses_moments_by_name():
    import scipy.linalg as sl

    g = closed_class_graph()
    t = np.array([0.1, 1.0, 5.0, 40.0])
    a, S, _, _ = g.as_matrices()  # matrices exist
    e = np.array([sl.expm(S * x) for x in t])
    surv = np.einsum("i,tij,j->t", a, e, np.ones(len(a)))
    exits = -S.sum(axis=1)
    np.testing.assert_allclose(g.survival(t), surv, rtol=1e-10)
    np.testing.assert_allclose(g.cdf(t), 1 - surv, rtol=1e-10)
    np.testing.assert_allclose(g.pdf(t), np.einsum("i,tij,j->t", a, e, exits), rtol=1e-10)
    np.testing.assert_allclose(g.survival(40.0), 0.5, rtol=1e-12)  # the closed class keeps half
    np.testing.assert_allclose(g.stop_probability(40.0)[1:3].sum(), 0.5, rtol=1e-12)
    np.testing.assert_allclose(g.laplace_transform(1.0), 0.5 * 2 / 3, rtol=1e-12)
    jpdf = Graph.pmf_from_graph(g)
    np.testing.assert_allclose(jpdf(t), g.pdf(t), rtol=1e-12)
    for call in (
        g.expectation,
        lambda: g.moments(2),
        lambda: g.sample(3),
        lambda: g.laplace_transform(0.0),
        lambda: Graph.moments_from_graph(g, 1),
        lambda: Graph.counts_from_graph(g, max_count=2),
    ):
        with pytest.raises(
            AbsorptionError, match=r"unreachable from 2 .*state \[1\] .*closed class"
        ):
            call()


def test_structural_errors():
    g = Graph(state_length=1)
    v = g.find_or_create_vertex([1])
    with pytest.raises(GraphError, match="start vertex cannot be the target"):
        v.add_edge(g.starting_vertex(), 1.0)
    with pytest.raises(GraphError, match="not parameterized"):
        v.add_edge_parameterized(v, 1.0, [1.0])
    with pytest.raises(VertexNotFoundError, match=r"no vertex has state \[7\]"):
        g.find_vertex([7])
    with pytest.raises(GraphError, match="empty state"):
        g.find_or_create_vertex([])
    with pytest.raises(IndexError, match="out of range"):
        g.vertex_at(5)
    other = Graph(state_length=1)
    with pytest.raises(GraphError, match="belongs to another graph"):
        v.add_edge(other.find_or_create_vertex([1]), 1.0)


def test_bad_rewards_and_discrete_weights():
    g = kingman(4)
    with pytest.raises(ParameterError, match=r"rewards has shape \(2,\); expected \(5,\)"):
        g.expectation(rewards=[1, 2], theta=[1.0])
    with pytest.raises(ParameterError, match="finite"):
        g.expectation(rewards=[0, 1, np.nan, 1, 0], theta=[1.0])
    with pytest.raises(ParameterError, match="integer >= 1"):
        g.moments(0, theta=[1.0])
    with pytest.raises(ParameterError, match=r"state \[4\] sum to 6 > 1"):
        g.expectation_discrete(theta=[1.0])  # rates, not probabilities


def test_from_matrices_rejects_bad_matrices():
    with pytest.raises(GraphError, match="shape"):
        Graph.from_matrices([1.0, 0.0], [[-1.0]])
    with pytest.raises(GraphError, match="sum"):
        Graph.from_matrices([0.8, 0.8], -np.eye(2))
    with pytest.raises(GraphError, match=r"S\[0, 1\] = -1 must be >= 0"):
        Graph.from_matrices([1.0, 0.0], [[-2.0, -1.0], [0.0, -1.0]])
    with pytest.raises(GraphError, match="row 0 of S sums to 1"):
        Graph.from_matrices([1.0, 0.0], [[-1.0, 2.0], [0.0, -1.0]])


def test_empty_coefficient_lists_are_constant_weights():
    # issue 13 bug 2: [] in a parameterized callback means "no θ dependence"
    def rules(state):
        if not state.size:
            return [[[3], 1.0, []]]
        k = int(state[0])
        if k == 3:
            return [[[2], 0.0, [3.0]]]
        return [[[1], 2.0, []]] if k == 2 else []

    g = Graph(callback=rules, parameterized=True)
    assert g.param_length() == 1
    # rates 3θ then 2 (constant): E[T] = 1/(3θ) + 1/2
    np.testing.assert_allclose(g.expectation(theta=[2.0]), 1 / 6 + 1 / 2, rtol=1e-14)


def test_rules_as_the_first_positional_argument():
    # issue 13 bug 4: Graph(rules) was read as Graph(state_length=rules)
    def rules(state):
        if not state.size:
            return [[[2], 1.0]]
        return [[[1], 1.0]] if state[0] == 2 else []

    g = Graph(rules)
    assert g.vertices_length() == 3
    np.testing.assert_allclose(g.expectation(), 1.0, rtol=1e-14)
