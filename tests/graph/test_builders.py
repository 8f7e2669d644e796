"""The vectorized builder against the per-state callback: same graph index for index on every
shipped model and on random rule sets; clear errors for bad rule output; edits afterwards."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phasic import Graph, GraphError, Transitions, models
from phasic.models import _rules


def assert_same_graph(g1: Graph, g2: Graph) -> None:
    assert g1.vertices_length() == g2.vertices_length()
    assert g1.param_length() == g2.param_length()
    np.testing.assert_array_equal(g1.states(), g2.states())
    for a, b in zip(g1._edges.arrays(), g2._edges.arrays(), strict=True):
        assert a.shape == b.shape
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("model", "args"),
    [
        ("kingman", (7,)),
        ("block_counting", (9,)),
        ("two_island_migration", (5,)),
        ("isolation_migration", (3, 2)),
        ("isolation_migration", (2, 2)),
        ("rabbits", (5, 2.0, 4.0)),
    ],
)
def test_shipped_models_build_the_same_graph_both_ways(model, args):
    g_vec = getattr(models, model)(*args)
    g_cb = getattr(models, model)(*args, vectorized=False)
    assert_same_graph(g_vec, g_cb)
    # and the rules can be passed to Graph directly
    cb, rules = _rules(model, *args)
    kw = {} if model == "rabbits" else {"parameterized": True}
    assert_same_graph(Graph(callback=rules, vectorized=True, **kw), g_vec)


def test_vectorized_block_counting_gives_the_sfs():
    n = 10
    g = models.block_counting(n)
    sfs = g.expectation(models.sfs_rewards(g, n), theta=[1.0])
    np.testing.assert_allclose(sfs, 2.0 / np.arange(1, n), rtol=1e-12)


def _random_rules(L, hi, deltas, a, b, parameterized, compact):
    """Moves s -> s + delta_k inside the box [0, hi]^L at weight a_k + b_k · s (when > 0)."""
    deltas, a, b = np.asarray(deltas), np.asarray(a), np.asarray(b)
    start = np.full(L, hi // 2, dtype=np.int64)

    def weight(s, k):
        return a[k] + s @ b[k]

    def cb(state):
        if not state.size:
            return [[start.tolist(), 1.0, [1.0, 0.5]] if parameterized else [start.tolist(), 1.0]]
        out = []
        for k, d in enumerate(deltas):
            nxt = state + d
            w = float(weight(state, k))
            if w > 0 and np.all((nxt >= 0) & (nxt <= hi)):
                out.append([nxt.tolist(), 0.0, [w, 0.5 * w]] if parameterized else [nxt, w])
        return out

    def rules(states):
        if states.shape[1] == 0:
            return [[start[None, :], [1.0], [[1.0, 0.5]]] if parameterized else [start[None], 1.0]]
        out = []
        for k, d in enumerate(deltas):
            nxt = states + d
            w = weight(states, k).astype(float)
            ok = (w > 0) & np.all((nxt >= 0) & (nxt <= hi), axis=1)
            w = np.where(ok, w, 0.0)
            if compact:
                rows = np.flatnonzero(ok)
                coef = np.stack([w[rows], 0.5 * w[rows]], axis=1) if parameterized else None
                out.append(Transitions(rows, nxt[rows], 0.0 if parameterized else w[rows], coef))
            elif parameterized:
                out.append([nxt, np.zeros(len(w)), np.stack([w, 0.5 * w], axis=1)])
            else:
                out.append([nxt, w])
        return out

    return cb, rules


@settings(max_examples=25, deadline=None)
@given(
    data=st.data(),
    L=st.integers(1, 3),
    hi=st.integers(1, 4),
    K=st.integers(1, 4),
    parameterized=st.booleans(),
    compact=st.booleans(),
)
def test_random_rule_sets_build_the_same_graph_both_ways(data, L, hi, K, parameterized, compact):
    deltas = data.draw(
        st.lists(st.lists(st.integers(-1, 1), min_size=L, max_size=L), min_size=K, max_size=K)
    )
    a = data.draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0]), min_size=K, max_size=K))
    b = data.draw(
        st.lists(
            st.lists(st.sampled_from([-1.0, 0.0, 1.0]), min_size=L, max_size=L),
            min_size=K,
            max_size=K,
        )
    )
    cb, rules = _random_rules(L, hi, deltas, a, b, parameterized, compact)
    g_cb = Graph(callback=cb, parameterized=parameterized)
    g_vec = Graph(callback=rules, vectorized=True, parameterized=parameterized)
    assert_same_graph(g_vec, g_cb)


def test_edits_after_a_vectorized_build():
    g = models.kingman(4)
    v = g.find_vertex([2])
    assert v.state().tolist() == [2]
    assert g.vertex_exists([3]) and not g.vertex_exists([9])
    extra = g.find_or_create_vertex([9])  # a new state goes into the native table
    assert extra.index == g.vertices_length() - 1 and g.find_vertex([9]) == extra
    assert extra.is_absorbing()
    g.find_vertex([1]).add_edge_parameterized(extra, 0.0, [2.0])  # 1 lineage -> [9] at 2θ
    a, S, _, _ = g.as_matrices(theta=[1.0])
    # E[T] = 1/6 + 1/3 + 1 + 1/2 (the new last step)
    np.testing.assert_allclose(float(g.expectation(theta=[1.0])), 2.0, rtol=1e-12)
    np.testing.assert_allclose(a @ np.linalg.solve(-S, np.ones(len(a))), 2.0, rtol=1e-12)


def _rules_returning(value):
    def rules(states):
        if states.shape[1] == 0:
            return [[np.array([[2, 0]]), [1.0]]]
        return value(states)

    return rules


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (lambda s: "nope", "return a list of transition kinds"),
        (lambda s: [[s]], "each kind must be"),
        (lambda s: [[s[:, :1], np.ones(len(s))]], r"shape \(1, 1\); expected \(1, 2\)"),
        (lambda s: [[s[:0], np.ones(0)]], r"shape \(0, 2\); expected \(1, 2\)"),
        (lambda s: [[s - 1.0, np.ones(len(s))]], "must be integers"),
        (lambda s: [[s - [1, 0], -np.ones(len(s))]], r"\[2, 0\] -> \[1, 0\] has base weight -1"),
        (lambda s: [[s - [1, 0], np.full(len(s), np.nan)]], r"\[2, 0\] -> \[1, 0\] has base"),
        (lambda s: [[s - [1, 0], np.ones((len(s), 2)), [[1.0]]]], "not parameterized"),
        (lambda s: [Transitions([5], s, 1.0)], r"indices in \[0, 1\)"),
    ],
)
def test_bad_rule_output_is_a_clear_error(bad, match):
    with pytest.raises(GraphError, match=match):
        Graph(callback=_rules_returning(bad), vectorized=True)


def test_bad_start_output_and_runaway_state_spaces():
    with pytest.raises(GraphError, match=r"rules\(start\) must return at least one"):
        Graph(callback=lambda s: [], vectorized=True)

    def grows(states):  # a birth process without bound
        if states.shape[1] == 0:
            return [[np.array([[0]]), [1.0]]]
        return [[states + 1, np.ones(len(states))]]

    with pytest.raises(GraphError, match=r"max_vertices = 50 .*newest state is \[49\]"):
        Graph(callback=grows, vectorized=True, max_vertices=50)

    def mixed_p(states):
        if states.shape[1] == 0:
            return [[np.array([[2]]), [1.0], [[1.0]]]]
        return [[states - 1, np.zeros(len(states)), np.ones((len(states), 2))]]

    with pytest.raises(GraphError, match=r"lengths \[1, 2\]"):
        Graph(callback=mixed_p, vectorized=True, parameterized=True)


def test_state_values_of_any_int64_size_are_kept_exactly():
    # The native table stores values in the narrowest width that holds them so far and widens
    # (1 -> 2 -> 4 -> 8 bytes) as larger ones arrive; earlier states must survive each widening.
    chain = [5, -100, 40_000, -3_000_000_000, 2**62, 7]

    def cb(state):
        if not state.size:
            return [[[chain[0], 0], 1.0]]
        i = chain.index(int(state[0]))
        return [[[chain[i + 1], i + 1], 1.0 + i]] if i + 1 < len(chain) else []

    def rules(states):
        if states.shape[1] == 0:
            return [[np.array([[chain[0], 0]]), [1.0]]]
        i = states[:, 1]
        nxt = np.stack([np.array(chain + [0])[np.minimum(i + 1, len(chain))], i + 1], axis=1)
        return [[nxt, np.where(i + 1 < len(chain), 1.0 + i, 0.0)]]

    g = Graph(callback=rules, vectorized=True)
    assert_same_graph(g, Graph(callback=cb))
    assert g.states()[1:, 0].tolist() == chain
    assert g.find_vertex([40_000, 2]).index == 3
    assert g.find_vertex([2**62, 4]).state().tolist() == [2**62, 4]
