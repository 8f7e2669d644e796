"""The native sweeps batched over θ: chunked, packed and padded batches give the per-θ answer, and
errors name the offending θ row wherever it sits in the batch."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from phasic import AbsorptionError, Graph, ParameterError
from phasic.graph import _native as kernels
from random_models import make_model
from reference_models import block_counting, two_island_migration

RTOL = 1e-10  # ARCHITECTURE.md: agreement with a dense reference


def _dense_A(ga, theta_row: np.ndarray) -> np.ndarray:
    """A = D - W on the transient vertices, from the edge list (independent of the sweeps)."""
    n = ga.n_transient
    W = np.zeros((n, n + 1))
    np.add.at(W, (ga.edge_sources(), ga.indices), ga.weights(theta_row[None])[0])
    return np.diag(W.sum(axis=1)) - W[:, :n]


# B = 150 spans three 64-wide chunks, the last (22 rows) padded to 24 lanes.
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("K", [1, 3])
@pytest.mark.parametrize("transpose", [False, True])
def test_batched_solve_matches_dense_solve_per_theta(seed, K, transpose):
    m = make_model(seed, cyclic=seed % 2 == 1, p=2, max_n=12)
    ga = m.graph.compile()
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0.2, 2.0, size=(150, 2))
    rhs = rng.normal(size=(ga.n_transient, 150, K))
    x = kernels.solve(ga, theta, rhs, transpose=transpose)
    for b in range(150):
        A = _dense_A(ga, theta[b])
        ref = np.linalg.solve(A.T if transpose else A, rhs[:, b])
        np.testing.assert_allclose(x[:, b], ref, rtol=RTOL, atol=1e-12 * np.abs(ref).max())


@pytest.mark.parametrize(
    "graph, B", [(block_counting(30), 45), (two_island_migration(40), 70)], ids=["bc30", "island"]
)
@pytest.mark.parametrize("transpose", [False, True])
def test_large_batched_solve_matches_one_theta_sweeps(graph, B, transpose):
    # n = 5,603 transient states: chunks of 16 θ rows, each swept in a packed copy.
    ga = graph.compile()
    rng = np.random.default_rng(1)
    theta = rng.uniform(0.5, 1.5, size=(B, ga.param_length))
    rhs = rng.uniform(0.0, 1.0, size=(ga.n_transient, B, 1))
    x = kernels.solve(ga, theta, rhs, transpose=transpose)
    for b in range(B):
        one = kernels.solve(ga, theta[b : b + 1], rhs[:, b : b + 1], transpose=transpose)
        np.testing.assert_allclose(x[:, b], one[:, 0], rtol=1e-13)


@pytest.mark.parametrize("bad_row", [0, 7, 141, 149])
def test_negative_rate_error_names_the_theta_row_in_any_chunk(bad_row):
    g = block_counting(6)
    theta = np.ones((150, 1))
    theta[bad_row] = -0.5
    with pytest.raises(ParameterError, match=r"at θ = \[-0\.5\]: rates must be >= 0"):
        g.moments(1, theta=theta)


@pytest.mark.parametrize("bad_row", [0, 3, 9])
def test_negative_rate_in_a_tridiagonal_batch_names_the_theta_row(bad_row):
    # eight rows at once per vector lane; a lane that fails sends its eight rows one by one
    g = two_island_migration(6)
    theta = np.tile([1.0, 0.7, 0.3], (10, 1))
    theta[bad_row, 2] = -0.25
    with pytest.raises(ParameterError, match=r"at θ = \[1\.0, 0\.7, -0\.25\]: rates must be"):
        g.expectation(theta=theta)
    theta[bad_row, 2] = 0.3 + 0.01 * bad_row
    batch = g.expectation(theta=theta)
    for b in (0, bad_row, 9):
        np.testing.assert_allclose(batch[b], g.expectation(theta=theta[b]), rtol=1e-13)


@pytest.mark.parametrize("bad_row", [3, 141])
def test_unreachable_absorption_error_names_the_theta_row(bad_row):
    g = block_counting(6)
    theta = np.full((150, 1), 2.0)
    theta[bad_row] = 0.0  # every coalescence rate vanishes
    with pytest.raises(AbsorptionError, match=r"at θ = \[0\.0\].*expectation is infinite"):
        g.moments(1, theta=theta)


def _ring_of_neighbours(rate_up: float, rate_down: float, exit_rate: float) -> Graph:
    """Six states in one cyclic block whose edges join neighbours only (a tridiagonal block after
    compile), with a self-loop and a doubled edge; exits from both ends."""
    from phasic import Graph

    g = Graph(state_length=1, parameterized=True)
    vs = [g.find_or_create_vertex([k]) for k in range(7)]
    g.starting_vertex().add_edge(vs[1], 1.0)
    for k in range(1, 7):
        if k < 6:
            vs[k].add_edge_parameterized(vs[k + 1], rate_up, [1.0])
        if k > 1:
            vs[k].add_edge_parameterized(vs[k - 1], rate_down, [0.0])
    vs[3].add_edge(vs[4], 0.5)  # a second edge to the same neighbour
    vs[2].add_edge(vs[2], 3.0)  # a self-loop: no effect on A
    vs[1].add_edge(vs[0], exit_rate)
    vs[6].add_edge(vs[0], exit_rate)
    return g


@pytest.mark.parametrize(
    "graph",
    [
        two_island_migration(8),
        _ring_of_neighbours(1.0, 2.0, 0.3),
        _ring_of_neighbours(1e28, 1e28, 1e-20),  # exit lost beside the rates in float64
        _ring_of_neighbours(1e45, 1e45, 1e-20),  # pivots past the scaled recurrence's range
    ],
    ids=["island", "ring", "stiff", "extreme"],
)
@pytest.mark.parametrize("K", [1, 3])
@pytest.mark.parametrize("B", [1, 5])
@pytest.mark.parametrize("transpose", [False, True])
def test_tridiagonal_blocks_match_dense_solve(graph, K, B, transpose):
    ga = graph.compile()
    assert np.any(np.diff(ga.scc_ptr) > 2)  # cyclic blocks, solved by the tridiagonal path
    rng = np.random.default_rng(K + B)
    theta = rng.uniform(0.5, 1.5, size=(B, ga.param_length))
    rhs = rng.uniform(0.0, 1.0, size=(ga.n_transient, B, K))
    x = kernels.solve(ga, theta, rhs, transpose=transpose)
    for b in range(B):
        ref = _exact_solve(ga, theta[b], rhs[:, b], transpose)
        np.testing.assert_allclose(x[:, b], ref, rtol=1e-12)


def _exact_solve(ga, theta_row, rhs, transpose):
    """A^-1 rhs in 80-digit arithmetic: the extreme ring's A is singular to float64 (its exit
    1e-20 vanishes beside the rates 1e28 on the diagonal)."""
    mpmath.mp.dps = 80
    n = ga.n_transient
    W = mpmath.zeros(n, n + 1)
    w = ga.weights(theta_row[None])[0]
    for src, dst, we in zip(ga.edge_sources(), ga.indices, w, strict=True):
        W[int(src), int(dst)] += mpmath.mpf(float(we))
    A = mpmath.zeros(n, n)
    for i in range(n):
        A[i, i] = sum(W[i, j] for j in range(n + 1) if j != i)
        for j in range(n):
            if j != i:
                A[i, j] = -W[i, j]
    A = A.T if transpose else A
    cols = [mpmath.lu_solve(A, mpmath.matrix(rhs[:, k].tolist())) for k in range(rhs.shape[1])]
    return np.array([[float(c[i]) for c in cols] for i in range(n)])


@pytest.mark.parametrize(
    "theta, shown", [(-2.0, r"-2\.0"), (float("nan"), "nan")], ids=["negative", "nan"]
)
@pytest.mark.parametrize("transpose", [False, True])
def test_bad_weight_in_a_tridiagonal_block_is_named(theta, shown, transpose):
    # the kernel itself (the eager API refuses a NaN θ before it)
    ga = _ring_of_neighbours(1.0, 2.0, 0.3).compile()
    rhs = np.ones((ga.n_transient, 1, 1))
    with pytest.raises(ParameterError, match=rf"at θ = \[{shown}\]: rates must be >= 0"):
        kernels.solve(ga, np.array([[theta]]), rhs, transpose=transpose)
