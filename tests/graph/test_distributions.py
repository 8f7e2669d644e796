"""pdf/cdf/state probabilities against scipy.linalg.expm; discrete pmf against matrix powers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sl
from hypothesis import HealthCheck, given, settings

from phasic import Graph, GraphArrays, ParameterError
from random_models import models
from reference_models import block_counting, kingman, rabbits, two_island_migration

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TIMES = np.array([0.0, 0.05, 0.3, 1.0, 2.5, 7.0, 20.0])


def expm_reference(alpha, S, times, r):
    return np.array([alpha @ sl.expm(S * t) @ r for t in times])


def assert_within_tol(ours, ref, tol):
    """The documented bound: |error| <= tol * min(1, value), plus rounding of the reference."""
    err = np.abs(ours - ref)
    allowed = tol * np.minimum(1.0, np.abs(ref)) + 1e-14 * np.abs(ref) + 1e-300
    assert np.all(err <= allowed * 4), (err / np.maximum(np.abs(ref), 1e-300)).max()


@SETTINGS
@given(models(cyclic=True))
def test_pdf_and_survival_match_expm(m):
    exit_ = -m.S.sum(axis=1)
    ref_pdf = expm_reference(m.alpha, m.S, TIMES, exit_)
    ref_surv = expm_reference(m.alpha, m.S, TIMES, np.ones(m.n))
    keep = ref_pdf > 1e-12  # below that the dense reference itself is only accurate to ~1e-16 abs
    assert_within_tol(m.graph.pdf(TIMES, theta=m.theta)[keep], ref_pdf[keep], 1e-12)
    assert_within_tol(m.graph.survival(TIMES, theta=m.theta), ref_surv, 1e-12)
    np.testing.assert_allclose(m.graph.cdf(TIMES, theta=m.theta), 1 - ref_surv, atol=1e-12)


@SETTINGS
@given(models(cyclic=True))
def test_state_probabilities_and_accumulated_time_match_expm(m):
    t = np.array([0.0, 0.7, 3.0])
    ours = m.graph.stop_probability(t, theta=m.theta)[:, m.vertex_of_row]
    ref = np.array([m.alpha @ sl.expm(m.S * x) for x in t])
    np.testing.assert_allclose(ours, ref, atol=1e-12)
    acc = m.graph.accumulated_visiting_time(t, theta=m.theta)[:, m.vertex_of_row]
    U = np.linalg.inv(-m.S)
    np.testing.assert_allclose(acc, (m.alpha - ref) @ U, atol=1e-11)


@SETTINGS
@given(models(cyclic=True, discrete=True))
def test_discrete_pmf_and_cdf_match_matrix_powers(m):
    ks = np.arange(0, 12)
    exit_ = 1 - m.S.sum(axis=1)
    ref = np.array([0.0] + [m.alpha @ np.linalg.matrix_power(m.S, k - 1) @ exit_ for k in ks[1:]])
    np.testing.assert_allclose(m.graph.pmf_discrete(ks), ref, atol=1e-15, rtol=1e-12)
    np.testing.assert_allclose(m.graph.cdf_discrete(ks), np.cumsum(ref), atol=1e-14)
    st = m.graph.stop_probability_discrete([0, 3])[:, m.vertex_of_row]
    np.testing.assert_allclose(st[1], m.alpha @ np.linalg.matrix_power(m.S, 3), atol=1e-15)


def test_seed_coalescent_pdf_is_the_hypoexponential_closed_form():
    # 8 samples, θ = 1.5: T = sum of Exp(k(k-1)/2 θ), k = 2..8, with distinct rates
    theta = 1.5
    rates = np.array([k * (k - 1) / 2 * theta for k in range(2, 9)])
    t = np.linspace(0.1, 5.0, 50)
    closed = np.zeros_like(t)
    for i, li in enumerate(rates):
        coef = np.prod([lj / (lj - li) for j, lj in enumerate(rates) if j != i])
        closed += coef * li * np.exp(-li * t)
    g = kingman(8)
    np.testing.assert_allclose(g.pdf(t, theta=[theta]), closed, rtol=1e-9, atol=1e-12)


def test_stiff_model_and_far_tail_have_relative_accuracy():
    # Rates from 1e-3 to 1e3. Reference values from mpmath's expm at 40 digits.
    S = np.array([[-1e3, 1e3 - 1.0, 0.0], [0.0, -1.0, 1.0 - 1e-3], [0.0, 0.0, -1e-3]])
    g = Graph.from_matrices(np.array([1.0, 0.0, 0.0]), S)
    t = np.array([1e-4, 0.01, 1.0, 50.0, 2000.0])
    exact = np.array(
        [
            0.9049324854505091,
            0.0010443455842282564,
            0.000998002497336039,
            0.0009502791453553587,
            0.00013520008315345922,
        ]
    )
    rel = np.abs(g.pdf(t, tol=1e-12) / exact - 1)
    # Truncation is bounded by tol; rounding grows with the number of steps λt (here up to 2e6).
    assert np.all(rel[:3] < 1e-12)
    assert rel[3] < 1e-11 and rel[4] < 5e-10
    # far tail of a fast model: values below 1e-20 still carry ~12 correct digits
    fast = kingman(5)
    tt = np.array([40.0, 60.0])
    a, S5, *_ = fast.as_matrices(theta=[1.0])
    ref = expm_reference(a, S5, tt, -S5.sum(axis=1))
    assert ref.min() < 1e-20
    np.testing.assert_allclose(fast.pdf(tt, theta=[1.0]), ref, rtol=1e-10)


def test_tolerance_is_a_bound_that_tightens():
    g = rabbits(3)
    a, S, *_ = g.as_matrices()
    t = np.array([0.2, 1.0, 4.0])
    ref = expm_reference(a, S, t, -S.sum(axis=1))
    for tol in (1e-4, 1e-8, 1e-12):
        err = np.abs(g.pdf(t, tol=tol) - ref)
        assert np.all(err <= tol * np.minimum(1, ref) * 1.01 + 1e-15)


def test_epochs_carry_the_state_distribution():
    g = two_island_migration(3)
    th0, th1 = np.array([1.0, 1.0, 0.5]), np.array([0.2, 3.0, 2.0])
    t1 = 0.4
    t = np.array([0.1, 0.3, 0.5, 1.5])
    a0, S0, *_ = g.as_matrices(theta=th0)
    _, S1, *_ = g.as_matrices(theta=th1)
    ref = []
    for x in t:
        if x < t1:
            ref.append(a0 @ sl.expm(S0 * x) @ -S0.sum(1))
        else:
            ref.append(a0 @ sl.expm(S0 * t1) @ sl.expm(S1 * (x - t1)) @ -S1.sum(1))
    ours = g.pdf(t, theta=[th0, th1], epochs=[0, t1])
    np.testing.assert_allclose(ours, ref, rtol=1e-10)
    np.testing.assert_allclose(
        g.cdf(t, theta=[th0, th1], epochs=[0, t1])[-1],
        1 - a0 @ sl.expm(S0 * t1) @ sl.expm(S1 * (1.5 - t1)) @ np.ones(len(a0)),
        rtol=1e-10,
    )


def test_batched_pdf_equals_loop():
    g = two_island_migration(4)
    thetas = np.random.default_rng(1).uniform(0.3, 2.0, size=(9, 3))
    t = np.linspace(0, 3, 7)
    batch = g.pdf(t, theta=thetas)
    for b in range(9):
        # a batch shares one uniformization rate, so rounding differs at the 1e-13 level
        np.testing.assert_allclose(batch[b], g.pdf(t, theta=thetas[b]), rtol=1e-12, atol=1e-300)


def test_a_batch_of_a_scale_model_shares_one_series_on_the_clock():
    # Block counting's rates are θ times constants: a θ batch is the θ = 1 chain at the times
    # θ_b t (f_θ(t) = θ f_1(θ t)), swept as one series. Values, logs, θ and time derivatives
    # against each row alone (the ordinary path), far tails included; a bad row still fails
    # alone.
    import jax.numpy as jnp

    import jax

    g = block_counting(6)
    t = np.array([0.0, 0.01, 0.3, 1.2, 5.0, 40.0])
    thetas = np.array([[0.2], [1.0], [3.7], [50.0]])
    for method in ("pdf", "survival", "cdf"):
        batch = getattr(g, method)(t, theta=thetas)
        for b in range(4):
            one = getattr(g, method)(t, theta=thetas[b])
            np.testing.assert_allclose(batch[b], one, rtol=1e-11, atol=1e-300)
    model = Graph.pmf_from_graph(g)
    jt = jnp.asarray(t[1:])
    batch = jax.vmap(jax.jacrev(model, argnums=(0, 1)), in_axes=(0, None))(jnp.asarray(thetas), jt)
    for b in range(4):
        one = jax.jacrev(model, argnums=(0, 1))(jnp.asarray(thetas[b]), jt)
        np.testing.assert_allclose(batch[0][b], one[0], rtol=1e-9, atol=1e-300)
        np.testing.assert_allclose(batch[1][b], one[1], rtol=1e-9, atol=1e-300)
    # the log density and its θ-derivative, far tail included (θ = 50 at t = 40: e^-1600, no
    # double holds the density itself)
    log_model = Graph.pmf_from_graph(g, log=True)
    for tt in (jnp.asarray([40.0]), jt):
        vals = jax.vmap(log_model, in_axes=(0, None))(jnp.asarray(thetas), tt)
        jacs = jax.vmap(jax.jacrev(log_model), in_axes=(0, None))(jnp.asarray(thetas), tt)
        for b in range(4):
            th = jnp.asarray(thetas[b])
            np.testing.assert_allclose(vals[b], log_model(th, tt), rtol=1e-12)
            np.testing.assert_allclose(jacs[b], jax.jacrev(log_model)(th, tt), rtol=1e-9)
    bad = np.array([[1.0], [-1.0]])
    with pytest.raises(ParameterError):
        g.pdf(t, theta=bad)
    rows = np.asarray(jax.jit(jax.vmap(model, in_axes=(0, None)))(jnp.asarray(bad), jt))
    assert np.all(np.isnan(rows[1])) and np.all(np.isfinite(rows[0]))
    np.testing.assert_allclose(rows[0], g.pdf(t[1:], theta=[1.0]), rtol=1e-11)


def test_bad_times_are_clear_errors():
    g = kingman(4)
    with pytest.raises(ParameterError, match="times must be finite and >= 0; got -1"):
        g.pdf([1.0, -1.0], theta=[1.0])
    with pytest.raises(ParameterError, match="finite"):
        g.cdf([np.nan], theta=[1.0])
    with pytest.raises(ParameterError, match="non-negative integers"):
        Graph.from_matrices([1.0], [[0.5]], discrete=True).pmf_discrete([1.5])
    with pytest.raises(ParameterError, match="tol"):
        g.pdf(1.0, theta=[1.0], tol=0)
    with pytest.raises(ParameterError, match="epochs"):
        g.pdf(1.0, theta=[[1.0], [2.0]], epochs=[0.5, 1.0])
    with pytest.raises(ParameterError, match=r"theta must have shape \(2, p\)"):
        g.pdf(1.0, theta=[1.0], epochs=[0.0, 1.0])


def test_compiled_graph_sweeps_parameters():
    g = kingman(6)
    cg = g.symbolic_elimination()
    t = np.linspace(0.1, 3, 5)
    for theta in (0.5, 1.0, 3.0):
        cg.update_weights([theta])
        np.testing.assert_allclose(cg.pdf(t), g.pdf(t, theta=[theta]), rtol=1e-14)
        assert cg.expectation() == pytest.approx(2 * (1 - 1 / 6) / theta, rel=1e-13)
        np.testing.assert_allclose(cg.moments(3), g.moments(3, theta=[theta]), rtol=1e-14)
    # the compiled model is frozen: later graph edits do not change it
    g.find_or_create_vertex([99]).add_edge(g.find_or_create_vertex([1]), 1.0)
    assert cg.vertices_length() == 7


def test_one_abstract_base_and_new_graphs_only_from_graph():
    # issue 15 item 2: FrozenGraph.discretize / .from_matrices were inherited and crashed
    from phasic.graph import FrozenGraph, PhaseTypeModel

    g = kingman(4)
    fg = g.symbolic_elimination()
    assert isinstance(g, PhaseTypeModel) and isinstance(fg, PhaseTypeModel)
    assert isinstance(fg, FrozenGraph) and not isinstance(fg, Graph)
    for name in ("discretize", "from_matrices", "reward_transform", "reward_transform_discrete"):
        assert hasattr(g, name) and not hasattr(fg, name), name
    with pytest.raises(TypeError, match="abstract"):
        PhaseTypeModel()
    assert isinstance(g.compile(), GraphArrays) and fg.compile() is g.compile()
    fg.update_weights([2.0])
    assert fg.expectation() == pytest.approx(g.expectation(theta=[2.0]), rel=1e-14)
    # every numerical method runs on the frozen model (stop_probability read Graph internals)
    t = [0.3, 1.0]
    np.testing.assert_array_equal(fg.stop_probability(t), g.stop_probability(t, theta=[2.0]))


_CONTINUOUS_CALLS = [
    ("expectation", (), {}),
    ("variance", (), {}),
    ("covariance", (np.arange(5.0), np.ones(5)), {}),
    ("moments", (3,), {}),
    ("expected_waiting_time", (), {}),
    ("expected_residence_time", (), {}),
    ("moments_gradient", (2,), {}),
    ("pdf", ([0.2, 1.0],), {}),
    ("cdf", ([0.2, 1.0],), {}),
    ("survival", ([0.2, 1.0],), {}),
    ("stop_probability", ([0.2, 1.0],), {}),
    ("accumulated_visiting_time", ([0.2, 1.0],), {}),
    ("sample", (4,), {"rng": 1}),
    ("as_matrices", (), {}),
]


@pytest.mark.parametrize("name,args,kw", _CONTINUOUS_CALLS)
def test_every_method_gives_the_same_on_the_frozen_model(name, args, kw):
    g = kingman(4)
    fg = g.symbolic_elimination()
    fg.update_weights([1.5])
    got, want = getattr(fg, name)(*args, **kw), getattr(g, name)(*args, theta=[1.5], **kw)
    got, want = (got, want) if isinstance(got, tuple) else ((got,), (want,))
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "name", ["pmf_discrete", "cdf_discrete", "survival_discrete", "stop_probability_discrete"]
)
def test_discrete_methods_on_the_frozen_model(name):
    g = Graph.from_matrices([0.6, 0.4], [[0.2, 0.5], [0.1, 0.3]], discrete=True)
    np.testing.assert_array_equal(
        getattr(g.symbolic_elimination(), name)([0, 1, 3]), getattr(g, name)([0, 1, 3])
    )
