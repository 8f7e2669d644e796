"""Hostile numeric input (issue 14 items 7, 8, 9, 18): each test failed before its fix."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import jax
from phasic import Graph, GraphError, ParameterError
from reference_models import kingman, two_island_migration


def test_nested_vmap_theta_outside_times_inside():
    m = Graph.pmf_from_graph(kingman(4))
    th = jnp.array([[1.0], [2.0]])
    t = jnp.array([[0.5, 1.0], [0.2, 0.3], [1.0, 2.0]])
    out = jax.vmap(lambda a: jax.vmap(lambda tt: m(a, tt))(t))(th)
    assert out.shape == (2, 3, 2)
    for i in range(2):
        for j in range(3):
            np.testing.assert_allclose(out[i, j], m(th[i], t[j]), rtol=1e-15)
    g = jax.vmap(lambda a: jax.vmap(lambda tt: jax.grad(lambda x: m(x, tt).sum())(a))(t))(th)
    np.testing.assert_allclose(g[1, 2], jax.grad(lambda x: m(x, t[2]).sum())(th[1]), rtol=1e-13)


def test_invalid_traced_jumps_and_times_are_nan_points_not_wrong_values():
    g = Graph.from_matrices([1.0], [[0.5]], discrete=True)
    pmf = jax.jit(Graph.pmf_from_graph(g, discrete=True))
    out = np.asarray(pmf(jnp.array([1.5, -1.0, jnp.nan, 2.0])))
    assert np.all(np.isnan(out[:3])) and out[3] == pytest.approx(0.25)
    pdf = jax.jit(Graph.pmf_from_graph(kingman(4)))
    out = np.asarray(pdf(jnp.array([1.0]), jnp.array([0.5, -1.0, jnp.inf])))
    assert np.isfinite(out[0]) and np.all(np.isnan(out[1:]))
    assert out[0] == pytest.approx(kingman(4).pdf(0.5, theta=[1.0]), rel=1e-14)


def test_state_values_outside_int64_are_refused():
    g = Graph(state_length=1)
    with pytest.raises(GraphError, match="int64"):
        g.find_or_create_vertex(np.array([2**63], dtype=np.uint64))
    with pytest.raises(GraphError, match="int64"):
        g.find_or_create_vertex([1e19])
    with pytest.raises(GraphError):
        g.find_or_create_vertex([2**64])


def test_from_matrices_refuses_a_never_left_state_and_duplicate_states():
    with pytest.raises(GraphError, match="row 1 of S is zero"):
        Graph.from_matrices([0.5, 0.5], [[-1.0, 0.0], [0.0, 0.0]])
    with pytest.raises(GraphError, match=r"state \[3\] is given for more than one row"):
        Graph.from_matrices([0.5, 0.5], [[-1.0, 0.5], [0.0, -2.0]], states=[[3], [3]])
    # a zero row of a discrete sub-transition matrix is fine: that state leaves at once
    g = Graph.from_matrices([1.0, 0.0], [[0.0, 0.5], [0.0, 0.0]], discrete=True)
    assert g.pmf_discrete(1) == pytest.approx(0.5)


def test_crafted_graph_arrays_files_are_refused_before_any_kernel_runs(tmp_path):
    from phasic.graph import GraphArrays
    from reference_models import two_island_migration

    for g in (kingman(6), two_island_migration(3)):
        g.compile().validate()  # what compile() builds passes
    ga = kingman(6).compile()
    good = tmp_path / "good.npz"
    ga.save(good)
    GraphArrays.load(good).validate()

    def tampered(**changes):
        with np.load(good) as z:
            data = {k: z[k] for k in z.files}
        data.update(changes)
        path = tmp_path / "bad.npz"
        np.savez(path, **data)
        return path

    n = ga.n_transient
    bad_indptr = ga.indptr.copy()
    bad_indptr[1] = 10**9
    bad_indices = ga.indices.copy()
    bad_indices[0] = n + 5
    for changes, match in (
        ({"indptr": bad_indptr}, "indptr"),
        ({"indices": bad_indices}, "edge targets"),
        ({"scc_ptr": np.array([0, n + 3], dtype=np.int64)}, "scc_ptr"),
        ({"indices": ga.indices.astype(np.int64)}, "int32"),
        ({"base": np.full_like(ga.base, np.nan)}, "NaN"),
    ):
        with pytest.raises(GraphError, match=match):
            GraphArrays.load(tampered(**changes))


def test_an_unbounded_state_space_stops_at_max_vertices():
    def births(state):
        if not state.size:
            return [[[1], 1.0]]
        return [[[state[0] + 1], 1.0], [[0], 0.5]]  # never bounded

    with pytest.raises(GraphError, match=r"max_vertices = 1000 .* newest state is \[999\]"):
        Graph(callback=births, max_vertices=1000)
    with pytest.raises(GraphError, match="max_vertices"):
        Graph(callback=births, max_vertices=0)


def test_raw_exceptions_become_errors_naming_the_value():
    """Issue 14 item 16 (part) and issue 13 bug 1: each raised a raw TypeError/ValueError/
    IndexError before."""
    from phasic import ParameterError

    g = kingman(4)
    with pytest.raises(ParameterError, match="θ = \\['a'\\]"):
        g.expectation(theta=["a"])
    with pytest.raises(ParameterError, match="r1 has 3 entries and r2 2"):
        g.covariance([1, 2, 3], [1, 2], theta=[1.0])
    h = Graph(state_length=1)
    v = h.find_or_create_vertex([1])
    with pytest.raises(GraphError, match="one number"):
        v.add_edge(h.find_or_create_vertex([2]), np.array([1.0, 2.0]))
    with pytest.raises(GraphError, match="flat sequence"):
        h.find_or_create_vertex([[1, 2], [3]])


def test_a_start_edge_straight_to_absorption_is_a_zero_time():
    # The earlier phasic's quickstart model: no transient state, T = 0 with probability 1.
    g = Graph(state_length=1)
    g.starting_vertex().add_edge(g.find_or_create_vertex([1]), 1.0)
    assert g.expectation() == 0.0 and g.variance() == 0.0
    np.testing.assert_array_equal(g.pdf([0.0, 1.0]), [0.0, 0.0])
    np.testing.assert_array_equal(g.cdf([0.0, 1.0]), [1.0, 1.0])
    np.testing.assert_array_equal(g.stop_probability([0.5]), [[0.0, 1.0]])


def test_traced_moments_at_an_invalid_theta_are_nan_rows_not_an_exception():
    # issue 15 item 4 / issue 12 defect 1: under jit a failed row is NaN, the other rows exact
    g = two_island_migration(2)
    th = jnp.array([[1.0, 1.0, 0.5], [-1.0, 1.0, 0.5], [jnp.nan, 1.0, 0.5], [2.0, 1.0, 0.1]])
    for backend in ("ffi", "jax"):
        fn = jax.jit(jax.vmap(Graph.moments_from_graph(g, 2, backend=backend)))
        out = np.asarray(fn(th))
        assert np.all(np.isnan(out[1:3])), backend
        for b in (0, 3):
            np.testing.assert_allclose(out[b], g.moments(2, theta=np.asarray(th[b])), rtol=1e-12)
    one = Graph.moments_from_graph(g, 1)
    value, grad = jax.value_and_grad(lambda t: one(t)[0])(jnp.array([-1.0, 1.0, 0.5]))
    assert np.isnan(value) and np.all(np.asarray(grad) == 0)  # NaN value, zero derivative
    # nested vmap over θ
    rew = jnp.asarray(np.ones((g.vertices_length(), 1)))
    e = Graph.moments_from_graph(g, 1, rewards=rew)
    nested = jax.vmap(lambda a: jax.vmap(lambda s: e(a * s))(jnp.array([1.0, 2.0])))(
        th[jnp.array([0, 3])]
    )
    np.testing.assert_allclose(nested[1, 1], e(th[3] * 2.0), rtol=1e-14)


def test_the_native_graph_object_checks_crafted_arrays():
    from phasic import _core

    ga = kingman(4).compile()
    args = list(ga.kernel_args())
    bad_target = args[1].copy()
    bad_target[0] = 99
    with pytest.raises(ValueError, match=r"edge targets must lie in \[0, n\]"):
        _core.NativeGraph(args[0], bad_target, *args[2:])
    bad_ptr = args[0].copy()
    bad_ptr[-1] += 5
    with pytest.raises(ValueError, match="indptr must start at 0"):
        _core.NativeGraph(bad_ptr, *args[1:])
    with pytest.raises(ValueError, match="scc_ptr"):
        _core.NativeGraph(*args[:4], np.array([0, 1], dtype=np.int64))


def test_outside_the_support_log_likelihoods_are_minus_inf_with_zero_gradient():
    # issue 12 item 4: NaN (or an XLA error) before; now -inf with a finite gradient under
    # jit, vmap and grad, for the density and Gaussian families on native and pure-JAX paths
    from phasic.inference import density_log_likelihood, gaussian_log_likelihood

    g = two_island_migration(2)
    t = jnp.array([0.5, 1.0, 2.0])
    for backend in ("ffi", "jax"):
        pdf = Graph.pmf_from_graph(g, backend=backend)
        mom = Graph.moments_from_graph(g, 2, backend=backend)
        lls = (
            lambda th: density_log_likelihood(pdf(th, t)),  # noqa: B023
            lambda th: gaussian_log_likelihood(mom(th), jnp.array([1.0, 3.0]), 0.5),  # noqa: B023
        )
        thetas = jnp.array([[1.0, 1.0, 0.5], [-1.0, 1.0, 0.5], [1.0, jnp.nan, 0.5]])
        for ll in lls:
            vals = jax.jit(jax.vmap(ll))(thetas)
            grads = jax.jit(jax.vmap(jax.grad(ll)))(thetas)
            assert np.isfinite(vals[0]) and np.all(np.asarray(vals[1:]) == -np.inf), backend
            assert np.all(np.isfinite(grads[0])) and np.all(np.asarray(grads[1:]) == 0), backend
            np.testing.assert_allclose(grads[0], jax.grad(ll)(thetas[0]), rtol=1e-12)
    # eager calls keep their clear error
    with pytest.raises(ParameterError, match="rates must be >= 0"):
        g.pdf(1.0, theta=[-1.0, 1.0, 0.5])


@pytest.mark.parametrize(("R", "eps"), [(1e7, 1e-7), (1e8, 1e-8), (1e15, 1e-15), (1.0, 1e-30)])
def test_stiff_cycles_keep_every_digit(R, eps):
    # a <-> b at rate R, b leaves at eps: E[T] = (R + eps) / (eps R) + 1 / eps. The block's
    # pivot D - W cancels when R / eps passes ~1e16 (it raised "unreachable" from 1e14 on); the
    # elimination keeps each row's exit rate instead and loses nothing.
    g = Graph(state_length=1)
    a, b, z = (g.find_or_create_vertex([i]) for i in (1, 2, 3))
    g.starting_vertex().add_edge(a, 1.0)
    a.add_edge(b, R)
    b.add_edge(a, R)
    b.add_edge(z, eps)
    exact = (R + eps) / (eps * R) + 1 / eps
    np.testing.assert_allclose(g.expectation(), exact, rtol=1e-14)
    # second moment E[T²] = 2 (U² 1)[a], U = A⁻¹ = [[R + eps, R], [R, R]] / (R eps), exactly
    from fractions import Fraction

    Rf, ef = Fraction(R), Fraction(eps)
    det = Rf * ef
    u1 = [(2 * Rf + ef) / det, 2 * Rf / det]
    second = 2 * ((Rf + ef) * u1[0] + Rf * u1[1]) / det
    np.testing.assert_allclose(g.moments(2)[1], float(second), rtol=1e-13)


def test_a_stiff_ring_against_its_closed_form():
    # m states in a ring at rate R; the last also leaves at eps: T is the time to that exit
    from fractions import Fraction

    m, R, eps = 6, 1e7, 1e-7
    g = Graph(state_length=1)
    vs = [g.find_or_create_vertex([i]) for i in range(m)]
    z = g.find_or_create_vertex([m])
    g.starting_vertex().add_edge(vs[0], 1.0)
    for i in range(m):
        vs[i].add_edge(vs[(i + 1) % m], R)
    vs[m - 1].add_edge(z, eps)
    # from state i the chain walks to m - 1 (time (m - 1 - i) / R), then leaves at eps or goes
    # round again (time m / R back to m - 1): E = (m-1)/R + (1/(R+eps)) / p + (1-p)/p * m/R
    Rf, ef = Fraction(R), Fraction(eps)
    p = ef / (Rf + ef)
    exact = (m - 1) / Rf + (1 / (Rf + ef)) / p + (1 - p) / p * (m - 1) / Rf
    np.testing.assert_allclose(g.expectation(), float(exact), rtol=1e-13)


def test_a_long_ring_keeps_a_narrow_band():
    # 20,000 states in a ring with one exit: in discovery order the back edge spans the whole
    # SCC and its banded LU was dense (3.2 GB); reverse Cuthill-McKee within the SCC makes the
    # band 2 wide. Checked on the compiled order, and the mean against its closed form.
    m = 20_000

    def ring(state):
        if not state.size:
            return [[[0], 1.0]]
        i = int(state[0])
        if i == m:
            return []
        return [[[(i + 1) % m], 1.0]] + ([[[m], 0.5]] if i == m - 1 else [])

    g = Graph(callback=ring)
    ga = g.compile()
    src = np.repeat(np.arange(ga.n_transient), np.diff(ga.indptr))
    inner = ga.indices < ga.n_transient
    assert ga.n_scc == 1 and np.abs(src[inner] - ga.indices[inner]).max() <= 2
    p = 0.5 / 1.5
    np.testing.assert_allclose(g.expectation(), (m - 1) + (1 / 1.5) / p + (1 - p) / p * (m - 1))


def test_moments_past_float64_and_sampling_a_chain_that_never_exits_are_named():
    g = kingman(4)
    with pytest.raises(ParameterError, match=r"E\[Y\^171\] overflows float64"):
        g.moments(200, theta=[1.0])
    np.testing.assert_allclose(g.moments(3, theta=[1.0])[0], 1.5)  # below the range: fine
    # an exit whose rate is θ: at θ = 0 the cycle [1] <-> [2] is never left, so a simulation
    # would run to its step limit (it spun for minutes); the solve names the state first
    z = Graph(state_length=1, parameterized=True)
    a, b, c = (z.find_or_create_vertex([i]) for i in (1, 2, 3))
    z.starting_vertex().add_edge(a, 1.0)
    a.add_edge(b, 1.0)
    b.add_edge(a, 1.0)
    b.add_edge_parameterized(c, 0.0, [1.0])
    from phasic import AbsorptionError

    for call in (lambda: z.sample(2, theta=[0.0]), lambda: z.sample_path(theta=[0.0])):
        with pytest.raises(AbsorptionError, match=r"state \[2\] at θ = \[0.0\]"):
            call()
    assert z.sample(3, theta=[1.0], rng=0).shape == (3,)
