"""Moments, rewards, covariances and gradients against dense references and closed forms."""

from __future__ import annotations

import functools
import math

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import jax
from phasic import ParameterError
from random_models import Model, models, vertex_rewards
from reference_models import (
    birth_death,
    block_counting,
    kingman,
    rabbits,
    sfs_rewards,
    two_island_migration,
    two_parameter_block_counting,
)

RTOL = 1e-10  # ARCHITECTURE.md: moments agree with a dense reference to 1e-10 relative
GRAD_RTOL = 1e-6
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Examples that trace a fresh dense JAX reference each time: fewer, as each costs a compilation.
JAX_SETTINGS = settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@functools.cache
def _mgf_derivatives(k: int, discrete: bool):
    """Jitted E[Y^j], j=1..k, as derivatives at 0 of the moment generating function (autodiff of a
    dense solve), independent of the solve chains under test."""

    def moments(S, alpha, r):
        n = S.shape[0]
        exit_ = (1.0 - S.sum(axis=1)) if discrete else -S.sum(axis=1)

        def mgf(s):
            if discrete:
                D = jnp.diag(jnp.exp(s * r))
                return alpha @ jnp.linalg.solve(jnp.eye(n) - D @ S, D @ exit_)
            return alpha @ jnp.linalg.solve(-S - s * jnp.diag(r), exit_)

        out, f = [], mgf
        for _ in range(k):
            f = jax.grad(f)
            out.append(f(0.0))
        return jnp.stack(out)

    return jax.jit(moments)


def mgf_moments(m: Model, r_rows: np.ndarray, k: int, discrete: bool) -> np.ndarray:
    return np.asarray(_mgf_derivatives(k, discrete)(m.S, m.alpha, np.asarray(r_rows, float)))


def rand_rewards(m: Model, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 2, m.n) * (rng.random(m.n) < 0.8)


def dense_moments(m: Model, r_rows: np.ndarray, k: int) -> np.ndarray:
    """Bladt–Nielsen closed form E[Y^j] = j! α (U Δ(r))^j 1 with a dense inverse."""
    M = np.linalg.inv(-m.S) @ np.diag(r_rows)
    v, out = np.ones(m.n), []
    for j in range(1, k + 1):
        v = M @ v
        out.append(math.factorial(j) * m.alpha @ v)
    return np.array(out)


@SETTINGS
@given(models(cyclic=False))
def test_moments_match_dense_closed_form_acyclic(m):
    r = rand_rewards(m, 1)
    ours = m.graph.moments(4, rewards=vertex_rewards(m, r), theta=m.theta)
    np.testing.assert_allclose(ours, dense_moments(m, r, 4), rtol=RTOL)
    ours = m.graph.moments(4, theta=m.theta)
    np.testing.assert_allclose(ours, dense_moments(m, np.ones(m.n), 4), rtol=RTOL)


@SETTINGS
@given(models(cyclic=True))
def test_moments_match_mgf_derivatives_cyclic(m):
    ours = m.graph.moments(3, theta=m.theta)
    np.testing.assert_allclose(ours, mgf_moments(m, np.ones(m.n), 3, False), rtol=RTOL)
    r = rand_rewards(m, 2)
    ours = m.graph.moments(3, rewards=vertex_rewards(m, r), theta=m.theta)
    np.testing.assert_allclose(ours, mgf_moments(m, r, 3, False), rtol=RTOL)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models(cyclic=True, discrete=True))
def test_discrete_moments_match_mgf_derivatives(m):
    ours = m.graph.moments_discrete(3)
    np.testing.assert_allclose(ours, mgf_moments(m, np.ones(m.n), 3, True), rtol=RTOL)
    r = rand_rewards(m, 3)
    ours = m.graph.moments_discrete(3, rewards=vertex_rewards(m, r))
    np.testing.assert_allclose(ours, mgf_moments(m, r, 3, True), rtol=RTOL)
    np.testing.assert_allclose(
        m.graph.variance_discrete(vertex_rewards(m, r)), ours[1] - ours[0] ** 2, rtol=1e-9
    )


@pytest.mark.parametrize("discrete", [False, True])
@JAX_SETTINGS
@given(data=models(cyclic=True, discrete=False), dm=models(cyclic=True, discrete=True))
def test_covariance_matches_mixed_mgf_derivative(discrete, data, dm):
    m = dm if discrete else data
    rng = np.random.default_rng(4)
    r1, r2 = rng.uniform(0, 2, m.n), rng.uniform(0, 2, m.n)
    S, alpha, n = jnp.asarray(m.S), jnp.asarray(m.alpha), m.n
    exit_ = (1.0 - S.sum(axis=1)) if discrete else -S.sum(axis=1)

    def mgf(s1, s2):
        x = s1 * r1 + s2 * r2
        if discrete:
            D = jnp.diag(jnp.exp(x))
            return alpha @ jnp.linalg.solve(jnp.eye(n) - D @ S, D @ exit_)
        return alpha @ jnp.linalg.solve(-S - jnp.diag(x), exit_)

    exy = float(jax.grad(jax.grad(mgf, 0), 1)(0.0, 0.0))
    ex, ey = float(jax.grad(mgf, 0)(0.0, 0.0)), float(jax.grad(mgf, 1)(0.0, 0.0))
    cov_fn = m.graph.covariance_discrete if discrete else m.graph.covariance
    th = None if discrete else m.theta
    ours = cov_fn(vertex_rewards(m, r1), vertex_rewards(m, r2), theta=th)
    np.testing.assert_allclose(ours, exy - ex * ey, rtol=1e-9, atol=1e-12)
    mat = cov_fn(vertex_rewards(m, np.stack([r1, r2], 1)), theta=th)
    np.testing.assert_allclose(mat[0, 1], ours, rtol=1e-12)
    np.testing.assert_allclose(mat, mat.T)


@SETTINGS
@given(models(cyclic=True))
def test_residence_and_waiting_times_match_dense_inverse(m):
    U = np.linalg.inv(-m.S)
    res = m.graph.expected_residence_time(theta=m.theta)
    np.testing.assert_allclose(res[m.vertex_of_row], m.alpha @ U, rtol=RTOL)
    assert res.sum() == pytest.approx(m.graph.expectation(theta=m.theta), rel=1e-12)
    r = rand_rewards(m, 5)
    wt = m.graph.expected_waiting_time(vertex_rewards(m, r), theta=m.theta)
    np.testing.assert_allclose(wt[m.vertex_of_row], U @ r, rtol=RTOL)
    assert wt[0] == pytest.approx(m.alpha @ U @ r, rel=RTOL)


@JAX_SETTINGS
@given(models(cyclic=True))
def test_moment_gradients_match_autodiff_of_dense_formula(m):
    r = rand_rewards(m, 6)
    g = m.graph
    # Dense reference as a function of (θ, r): rebuild S from the graph's edges independently of
    # the kernels: S(θ) = sum over edges of (base + c·θ) in the right cells.
    rows = {v: i for i, v in enumerate(m.vertex_of_row)}
    src, dst, base, coef = [], [], [], []
    for v in g.vertices()[1:]:
        for e in v.edges():
            src.append(rows[v.index])
            dst.append(rows.get(e.to.index, -1))
            base.append(e.base_weight)
            coef.append(e.coefficients)
    src, dst, base, coef = map(np.asarray, (src, dst, base, coef))
    inner = dst >= 0

    @jax.jit
    def dense_moments(theta, rr):
        w = base + coef @ theta
        S = jnp.zeros((m.n, m.n)).at[src, src].add(-w).at[src[inner], dst[inner]].add(w[inner])
        U = jnp.linalg.inv(-S)
        y, out = jnp.ones(m.n), []
        for j in range(1, 4):
            y = j * U @ (rr * y)
            out.append(jnp.asarray(m.alpha) @ y)
        return jnp.stack(out)

    mg = g.moments_gradient(3, rewards=vertex_rewards(m, r), theta=m.theta)
    np.testing.assert_allclose(mg.moments, dense_moments(m.theta, r), rtol=RTOL)
    jt = jax.jacfwd(dense_moments, 0)(jnp.asarray(m.theta), jnp.asarray(r))
    jr = jax.jacfwd(dense_moments, 1)(jnp.asarray(m.theta), jnp.asarray(r))
    np.testing.assert_allclose(mg.d_theta, jt, rtol=1e-9, atol=1e-12 * np.abs(jt).max())
    np.testing.assert_allclose(
        mg.d_rewards[:, m.vertex_of_row], jr, rtol=1e-9, atol=1e-12 * np.abs(jr).max()
    )


def test_gradient_matches_central_differences_with_parameterized_start():
    g = two_island_migration(4)
    # make the start depend on θ too: a second start edge into island 2
    g.starting_vertex().add_edge_parameterized(
        g.find_or_create_vertex([3, 1]), 0.5, [0.0, 0.0, 1.0]
    )
    theta = np.array([1.0, 0.7, 0.3])
    r = np.arange(g.vertices_length(), dtype=float) % 3
    mg = g.moments_gradient(2, rewards=r, theta=theta)
    h = 1e-6
    for q in range(3):
        e = np.zeros(3)
        e[q] = h
        fd = (g.moments(2, r, theta + e) - g.moments(2, r, theta - e)) / (2 * h)
        np.testing.assert_allclose(mg.d_theta[:, q], fd, rtol=GRAD_RTOL)


@pytest.mark.parametrize(
    "graph, theta",
    [(two_island_migration(7), [1.0, 0.7, 0.3]), (two_parameter_block_counting(6), [0.4, 0.9])],
    ids=["island", "two-parameter"],
)
def test_expectation_gradient_of_one_column_matches_a_dense_reference(graph, theta):
    # One column (E[T], one reward): the adjoint is a transposed one-column solve (through the
    # tridiagonal blocks of the two-island model) and edge_grad's per-row sums for p = 3 and 2.
    theta = np.asarray(theta)

    def dense(th):
        a, S, *_ = graph.as_matrices(theta=th)
        return a @ np.linalg.solve(-S, np.ones(len(a)))

    mg = graph.moments_gradient(1, theta=theta)
    np.testing.assert_allclose(mg.moments[0], dense(theta), rtol=1e-12)
    h = 1e-6
    for q in range(len(theta)):
        e = np.zeros(len(theta))
        e[q] = h
        fd = (dense(theta + e) - dense(theta - e)) / (2 * h)
        np.testing.assert_allclose(mg.d_theta[0, q], fd, rtol=GRAD_RTOL)


def test_batched_theta_equals_loop():
    g = two_island_migration(5)
    thetas = np.random.default_rng(0).uniform(0.3, 2.0, size=(7, 3))
    r = sfs_rewards(g, 2)  # any reward matrix shape (vertices, R)
    batch = g.moments(2, rewards=r, theta=thetas)
    assert batch.shape == (7, 2, r.shape[1])
    for b in range(7):
        np.testing.assert_allclose(batch[b], g.moments(2, rewards=r, theta=thetas[b]), rtol=1e-14)


@pytest.mark.parametrize("n", [2, 5, 8, 20])
def test_kingman_tmrca_mean_and_variance_closed_form(n):
    g = kingman(n)
    for theta in (1.0, 2.5):
        # Coalescent rate k(k-1)/2 · θ: E[T] = 2(1 - 1/n)/θ, Var[T] = sum_k (2/(k(k-1)θ))^2
        mean = 2 * (1 - 1 / n) / theta
        var = sum((2 / (k * (k - 1) * theta)) ** 2 for k in range(2, n + 1))
        assert g.expectation(theta=[theta]) == pytest.approx(mean, rel=1e-13)
        assert g.variance(theta=[theta]) == pytest.approx(var, rel=1e-12)
    # Tavaré's closed form at θ = 1: Var = 8 Σ_{j=2}^{n} 1/j² − 4 (1 − 1/n)²
    tav = 8 * sum(1 / j**2 for j in range(2, n + 1)) - 4 * (1 - 1 / n) ** 2
    assert g.variance(theta=[1.0]) == pytest.approx(tav, rel=1e-12)


@pytest.mark.parametrize("n", [4, 10, 15])
def test_sfs_matches_2_over_i(n):
    g = block_counting(n)
    r = sfs_rewards(g, n)
    sfs = g.expectation(rewards=r, theta=[1.0])
    np.testing.assert_allclose(sfs, 2 / np.arange(1, n), rtol=1e-12)
    # total branch length: 2 Σ 1/i; and θ scales time as 1/θ
    assert g.expectation(rewards=r.sum(1), theta=[2.0]) == pytest.approx(
        sum(2 / i for i in range(1, n)) / 2, rel=1e-12
    )


def test_block_counting_reference_sizes():
    # ARCHITECTURE.md: n=10 has 41 transient states and 114 edges
    ga = block_counting(10).compile()
    assert (ga.n_transient, ga.n_edges) == (41, 114)


def _dense_reference(g, theta=None, k=3):
    a, S, *_ = g.as_matrices(theta=theta)
    U = np.linalg.inv(-S)
    y, out = np.ones(len(a)), []
    for j in range(1, k + 1):
        y = j * U @ y
        out.append(a @ y)
    return np.array(out)


@pytest.mark.parametrize(
    "make,theta",
    [
        (lambda: birth_death(12, 0.9, 1.0), None),
        (lambda: rabbits(4), None),
        (lambda: two_island_migration(5), np.array([1.0, 0.5, 0.8])),
    ],
    ids=["birth-death", "rabbits", "two-island-migration"],
)
def test_cyclic_models_match_dense(make, theta):
    g = make()
    assert not g.is_acyclic()
    np.testing.assert_allclose(g.moments(3, theta=theta), _dense_reference(g, theta), rtol=RTOL)


def test_birth_death_expectation_closed_form():
    # From state 1 with birth rate λk (k < N) and death rate μk: E[T] = sum_k (1/(μk)) ...
    # computed from the embedded linear system in closed form via the standard product formula:
    # E[T_1] = sum_{k=1}^{N} (1/(k μ)) (λ/μ)^{k-1}  (births at rate λk up to N, exact for a cap)
    lam, mu, N = 0.9, 1.0, 12
    g = birth_death(N, lam, mu)
    closed = sum((lam / mu) ** (k - 1) / (k * mu) for k in range(1, N + 1))
    assert g.expectation() == pytest.approx(closed, rel=1e-12)


def test_rabbits_single_rabbit_closed_form():
    # One rabbit jumping at rate 1 between islands flooded at rates a (left) and b (right):
    # E_L = (1 + E_R)/(1 + a) * ... solve the 2x2 system by hand: (1+a)E_L - E_R = 1,
    # -E_L + (1+b)E_R = 1  =>  E_L = (2 + b) / ((1+a)(1+b) - 1)
    a, b = 2.0, 4.0
    assert rabbits(1, a, b).expectation() == pytest.approx((2 + b) / ((1 + a) * (1 + b) - 1))


def test_factorial_moment_identity_for_geometric_dph():
    from phasic import Graph

    # one vertex with exit probability q: τ ~ Geometric(q) on {1, 2, ...}
    q = 0.3
    g = Graph(state_length=1)
    v, a = g.find_or_create_vertex([1]), g.find_or_create_vertex([0])
    g.starting_vertex().add_edge(v, 1.0)
    v.add_edge(a, q)
    m = g.moments_discrete(3)
    assert m[0] == pytest.approx(1 / q, rel=1e-14)
    assert m[1] == pytest.approx((2 - q) / q**2, rel=1e-14)
    assert m[2] == pytest.approx((q**2 - 6 * q + 6) / q**3, rel=1e-13)
    assert math.isclose(g.variance_discrete(), (1 - q) / q**2, rel_tol=1e-13)


@pytest.mark.parametrize(
    ("graph", "theta"),
    [
        (kingman(8), [1.3]),
        (two_island_migration(6), [1.0, 0.5, 0.25]),
        (rabbits(4), None),
    ],
)
def test_one_theta_expectation_matches_the_dense_reference(graph, theta):
    # One θ goes through a single native call (a small model's eager call is otherwise mostly
    # fixed cost); it must agree with the dense α (-S)^-1 1 and with the batched general path.
    a, S, _, _ = graph.as_matrices(theta=theta)
    dense = a @ np.linalg.solve(-S, np.ones(len(a)))
    one = graph.expectation(theta=theta)
    assert isinstance(one, np.float64)
    np.testing.assert_allclose(one, dense, rtol=RTOL)
    if theta is not None:
        np.testing.assert_allclose(graph.expectation(theta=np.asarray(theta)), dense, rtol=RTOL)
        np.testing.assert_allclose(
            graph.expectation(theta=[theta, theta]), [dense, dense], rtol=RTOL
        )
        frozen = graph.symbolic_elimination()
        frozen.update_weights(theta)
        np.testing.assert_allclose(frozen.expectation(), dense, rtol=RTOL)


def test_one_theta_expectation_with_a_defect_and_bad_theta():
    g = kingman(3)
    g.starting_vertex().add_edge_parameterized(g.find_vertex([1]), 1.0, [0.0])  # start absorbed
    # start weights 1 + θ to [3] and 1 to absorption: E[T] = (1 + θ) / (2 + θ) · E[T | start 3]
    th = 1.0
    np.testing.assert_allclose(g.expectation(theta=[th]), (1 + th) / (2 + th) * (4 / 3) / th)
    with pytest.raises(ParameterError, match="NaN or infinite"):
        g.expectation(theta=[np.nan])
    with pytest.raises(ParameterError, match="2 entries per row"):
        g.expectation(theta=[1.0, 2.0])
