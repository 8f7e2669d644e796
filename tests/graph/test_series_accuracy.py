"""Series kernels against 50-digit mpmath: relative accuracy in both tails, per-time truncation
independent of the other times, bounded work (max_steps) and NaN rows under jit."""

from __future__ import annotations

import subprocess
import sys

import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
import scipy.linalg as sl

import jax
from phasic import Graph, ParameterError
from reference_models import kingman

mp.mp.dps = 50
K, LAM = 5, 2.0
TIMES = np.array([1e-6, 1e-4, 1e-2, 1.0, 10.0, 100.0, 250.0])


def erlang() -> Graph:
    S = -LAM * np.eye(K) + LAM * np.eye(K, k=1)
    return Graph.from_matrices(np.eye(K)[0], S, states=[[i + 1] for i in range(K)])


def pois(i: int, t: float):
    x = mp.mpf(LAM) * mp.mpf(t)
    return mp.e ** (-x) * x**i / mp.factorial(i)


def vertex(g: Graph, state: int) -> int:
    return next(i for i, s in enumerate(g.states()) if list(s) == [state])


def assert_relative(ours, ref, bound):
    rel = [abs(float((mp.mpf(float(o)) - r) / r)) for o, r in zip(ours, ref, strict=True)]
    assert max(rel) <= bound, rel


def test_erlang_pdf_survival_cdf_are_relative_accurate_in_both_tails():
    # Values span 1e-31 (cdf at 1e-6) to 1e-208 (survival at 250): all to ~1e-16 relative.
    g = erlang()
    surv = [sum(pois(i, t) for i in range(K)) for t in TIMES]
    assert_relative(g.survival(TIMES), surv, 1e-15)
    assert_relative(g.cdf(TIMES), [1 - s for s in surv], 1e-15)
    assert_relative(g.pdf(TIMES), [LAM * pois(K - 1, t) for t in TIMES], 1e-15)


def test_state_accumulated_and_absorbed_probabilities_are_relative_accurate():
    g = erlang()
    sp = g.stop_probability(TIMES)
    acc = g.accumulated_visiting_time(TIMES)
    for i in range(K):
        v = vertex(g, i + 1)
        assert_relative(sp[:, v], [pois(i, t) for t in TIMES], 1e-15)
        ref = [(1 - sum(pois(j, t) for j in range(i + 1))) / LAM for t in TIMES]
        assert_relative(acc[:, v], ref, 1e-15)
    # The absorbing vertex holds the probability of having been absorbed (= the cdf).
    absorbed = sp[:, vertex(g, K + 1)]
    assert_relative(absorbed, [1 - sum(pois(j, t) for j in range(K)) for t in TIMES], 1e-15)
    np.testing.assert_allclose(sp.sum(axis=1), 1.0, rtol=1e-14)
    assert np.all(sp[:, 0] == 0)  # the start vertex


def test_a_time_point_does_not_depend_on_the_other_times_of_the_call():
    # Densities and probabilities of a Coxian are stepped from one sorted time point to the next
    # (steps.cpp): the other times change a value only through rounding, far below tol.
    g = kingman(6)
    alone = [g.pdf([0.3], theta=[1.0]), g.survival([0.3], theta=[1.0]), g.cdf([0.3], theta=[1.0])]
    together = [
        g.pdf([40.0, 0.3, 1e-5], theta=[1.0])[1],
        g.survival([0.3, 40.0], theta=[1.0])[0],
        g.cdf(np.r_[np.linspace(1e-3, 0.29, 300), 0.3], theta=[1.0])[-1],
    ]
    # ~1e-16 per step of the chain that reaches the point (here up to ~50 steps)
    np.testing.assert_allclose(np.concatenate(alone), together, rtol=1e-14, atol=0)
    sp1 = g.stop_probability([0.01], theta=[1.0])[0]
    sp2 = g.stop_probability([0.01, 30.0, 1e-7], theta=[1.0])[0]
    np.testing.assert_array_equal(sp1, sp2)


def test_long_horizon_accuracy_is_as_documented():
    # Fast cycling (rate 1000) with a slow exit: λt up to 2e5 steps. Truncation is bounded by tol;
    # rounding grows like 1e-16 · λt (the documented bound).
    S = np.array([[-1000.0, 1000.0], [1000.0, -1001.0]])
    g = Graph.from_matrices([1.0, 0.0], S, states=[[1], [2]])
    t = np.array([0.001, 1.0, 50.0, 100.0])
    E = [mp.expm(mp.matrix(S.tolist()) * mp.mpf(x)) for x in t]
    for x, e, s, f in zip(t, E, g.survival(t), g.pdf(t), strict=True):
        bound = 1e-12 + 1e-16 * 1001 * x
        assert abs(float((s - (e[0, 0] + e[0, 1])) / (e[0, 0] + e[0, 1]))) <= bound
        assert abs(float((f - e[0, 1]) / e[0, 1])) <= bound


def test_batched_cdf_near_zero_is_non_negative():
    g = kingman(5)
    c = g.cdf([0.001, 0.01], theta=np.array([[1.0], [2.0], [0.5]]))
    assert np.all(c > 0) and np.all(np.isfinite(np.log(c)))
    ref = 1 - g.survival([0.01], theta=[2.0])[0]
    assert c[1, 1] == pytest.approx(ref, rel=1e-6)


def test_discrete_tails_are_relative_accurate():
    # Geometric: leave with probability 0.1 per jump; P(τ > k) = 0.9^k, P(τ <= k) = 1 - 0.9^k.
    g = Graph.from_matrices([1.0], [[0.9]], discrete=True)
    k = np.array([0, 1, 5, 300, 3000])
    assert_relative(g.survival_discrete(k[1:]), [mp.mpf("0.9") ** int(j) for j in k[1:]], 1e-12)
    np.testing.assert_allclose(g.cdf_discrete(k), 1 - 0.9**k, rtol=1e-13, atol=0)
    assert g.cdf_discrete(0) == 0.0
    np.testing.assert_allclose(g.survival_discrete([2]), [0.81], rtol=1e-15)


def test_step_limit_is_a_clear_error_eagerly_and_nan_under_jit():
    g = kingman(5)
    with pytest.raises(ParameterError, match="max_steps"):
        g.pdf([1.0, 1e7], theta=[1.0])
    with pytest.raises(ParameterError, match="max_steps"):
        g.pdf(50.0, theta=[1.0], max_steps=100)
    assert g.pdf(50.0, theta=[1.0], max_steps=10_000) > 0
    with pytest.raises(ParameterError, match="max_steps"):
        g.pdf(1.0, theta=[1.0], max_steps=0)
    jax.config.update("jax_enable_x64", True)
    f = jax.jit(Graph.pmf_from_graph(g, max_steps=1000))
    out = f(jnp.array([1.0]), jnp.array([0.5, 500.0]))
    assert np.all(np.isnan(np.asarray(out)))  # the row needs too many steps: NaN, not a crash
    v = jax.vmap(f, in_axes=(0, None))(jnp.array([[1.0], [1e6]]), jnp.array([0.5]))
    assert np.isfinite(v[0, 0]) and np.isnan(v[1, 0])


def test_bad_theta_and_times_give_nan_rows_under_jit():
    jax.config.update("jax_enable_x64", True)
    f = jax.jit(Graph.pmf_from_graph(kingman(4)))
    v = jax.vmap(f, in_axes=(0, None))(jnp.array([[1.0], [-1.0]]), jnp.array([0.5]))
    assert np.isfinite(v[0, 0]) and np.isnan(v[1, 0])
    assert np.isnan(f(jnp.array([1.0]), jnp.array([jnp.nan]))[0])
    g = jax.grad(lambda th: jnp.sum(f(th, jnp.array([0.5]))))(jnp.array([-1.0]))
    assert g.shape == (1,)
    # among many times (the stepped path), a NaN time is NaN alone; batches on the clock too
    t = np.linspace(0.01, 6.0, 300)
    want = kingman(4).pdf(t, theta=[1.0])
    tn = t.copy()
    tn[17] = np.nan
    got = np.asarray(f(jnp.array([1.0]), jnp.asarray(tn)))
    assert np.isnan(got[17]) and np.isnan(got).sum() == 1
    np.testing.assert_allclose(np.delete(got, 17), np.delete(want, 17), rtol=1e-12)  # tol
    rows = jax.vmap(f, in_axes=(0, None))(jnp.array([[1.0], [2.0], [-1.0]]), jnp.asarray(tn))
    np.testing.assert_allclose(rows[0], got, rtol=1e-12)
    assert np.all(np.isnan(rows[2])) and np.isnan(rows[1, 17]) and np.isnan(rows[1]).sum() == 1
    with pytest.raises(ParameterError, match="tol"):
        Graph.pmf_from_graph(kingman(4), tol=float("nan"))


def test_memory_does_not_grow_with_rate_times_time():
    # θ = e^14 makes λt ~ 1e7 steps at the largest of 200 times: the Poisson weights are streamed,
    # so peak memory stays near the interpreter's (it was > 2 GB with tabulated windows).
    code = (
        "import numpy as np; from phasic.models import kingman\n"
        "def hwm(): return int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])\n"
        "g = kingman(4); g.pdf([0.1], theta=[1.0]); before = hwm()\n"
        "v = g.pdf(np.linspace(0.5, 1.0, 200), theta=[np.exp(14.0)])\n"
        "assert np.all(np.isfinite(v)) and np.all(v >= 0)\n"
        "print(hwm() - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout.strip()) < 50_000  # kB


def two_exits() -> Graph:
    """Two transient states with a cycle and two absorbing vertices (states [8] and [9])."""
    g = Graph(state_length=1)
    a, b = g.find_or_create_vertex([1]), g.find_or_create_vertex([2])
    x, y = g.find_or_create_vertex([8]), g.find_or_create_vertex([9])
    g.starting_vertex().add_edge(a, 0.7)
    g.starting_vertex().add_edge(b, 0.2)
    g.starting_vertex().add_edge(y, 0.1)  # a defect into [9]
    a.add_edge(b, 2.0)
    a.add_edge(x, 0.5)
    b.add_edge(a, 1.0)
    b.add_edge(y, 0.3)
    return g


def test_absorbing_vertices_split_the_absorbed_mass_with_and_without_epochs():
    g = two_exits()
    alpha = np.array([0.7, 0.2])
    S = np.array([[-2.5, 2.0], [1.0, -1.3]])
    exits = np.array([[0.5, 0.0], [0.0, 0.3]])  # into [8], [9]
    t = np.array([0.0, 0.4, 3.0])

    def absorbed(a, S, t):
        U = np.linalg.inv(-S)
        return np.array([a @ U @ (np.eye(2) - sl.expm(S * x)) @ exits for x in t])

    sp = g.stop_probability(t)
    ix, iy = vertex(g, 8), vertex(g, 9)
    ref = absorbed(alpha, S, t) + np.array([0.0, 0.1])
    np.testing.assert_allclose(sp[:, [ix, iy]], ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(sp.sum(axis=1), 1.0, rtol=1e-13)
    # Epochs: all rates doubled from t1 = 1 on (the graph is constant, so scale time instead).
    gp = Graph(state_length=1, parameterized=True)
    va, vb = gp.find_or_create_vertex([1]), gp.find_or_create_vertex([2])
    vx, vy = gp.find_or_create_vertex([8]), gp.find_or_create_vertex([9])
    gp.starting_vertex().add_edge(va, 0.7)
    gp.starting_vertex().add_edge(vb, 0.2)
    gp.starting_vertex().add_edge(vy, 0.1)
    for u, v, w in ((va, vb, 2.0), (va, vx, 0.5), (vb, va, 1.0), (vb, vy, 0.3)):
        u.add_edge_parameterized(v, 0.0, [w])
    te = np.array([0.5, 2.0])
    sp = gp.stop_probability(te, theta=[[1.0], [2.0]], epochs=[0.0, 1.0])
    a1 = alpha @ sl.expm(S)
    at_1 = absorbed(alpha, S, [1.0])[0]
    ref = np.array(
        [absorbed(alpha, S, [0.5])[0], at_1 + 2 * absorbed(a1, 2 * S, [1.0])[0]]
    ) + np.array([0.0, 0.1])
    got = sp[:, [vertex(gp, 8), vertex(gp, 9)]]
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(sp.sum(axis=1), 1.0, rtol=1e-13)


def test_time_and_theta_derivatives_match_the_dense_path_including_t0():
    jax.config.update("jax_enable_x64", True)
    g = kingman(5)
    native, pure = Graph.pmf_from_graph(g), Graph.pmf_from_graph(g, backend="jax")
    th, t = jnp.array([1.3]), jnp.array([0.0, 0.01, 0.5, 2.0, 9.0])
    _, dn = jax.jvp(lambda s: native(th, s), (t,), (jnp.ones_like(t),))
    _, dp = jax.jvp(lambda s: pure(th, s), (t,), (jnp.ones_like(t),))
    np.testing.assert_allclose(dn, dp, rtol=1e-9, atol=1e-13)
    jn = jax.jacfwd(lambda x: native(x, t))(th)
    jp = jax.jacfwd(lambda x: pure(x, t))(th)
    np.testing.assert_allclose(jn, jp, rtol=1e-9, atol=1e-13)


def test_stiff_model_is_accurate_or_a_clear_error():
    # Rates from 1e-8 to 1e8 in one model: accurate where λt fits the step limit, else an error.
    S = np.array([[-1e8, 1e8, 0.0], [0.0, -1.0, 0.5], [1e-8, 0.0, -2e-8]])
    a = np.array([1.0, 0.0, 0.0])
    g = Graph.from_matrices(a, S, states=[[1], [2], [3]])
    t = np.array([1e-9, 1e-7, 1e-6])
    ref_pdf = np.array([a @ sl.expm(S * x) @ -S.sum(axis=1) for x in t])
    ref_surv = np.array([a @ sl.expm(S * x) @ np.ones(3) for x in t])
    np.testing.assert_allclose(g.pdf(t), ref_pdf, rtol=1e-10)
    np.testing.assert_allclose(g.survival(t), ref_surv, rtol=1e-12)
    with pytest.raises(ParameterError, match="max_steps"):
        g.pdf(10.0)


def test_many_time_points_are_stepped_in_lanes_and_stay_relative_accurate():
    # 1,200 unsorted times with repeats, far into both tails: the lane-stepped path (eight sorted
    # segments in lock step, steps.cpp) against 50-digit closed forms.
    g = erlang()
    rng = np.random.default_rng(3)
    t = np.r_[rng.uniform(0.0, 300.0, 1000), np.geomspace(1e-7, 1e-2, 100), np.full(100, 1.5)]
    t = rng.permutation(t)
    surv = [sum(pois(i, x) for i in range(K)) for x in t]
    assert_relative(g.survival(t), surv, 2e-14)
    assert_relative(g.cdf(t), [1 - s for s in surv], 2e-14)
    dens = [LAM * pois(K - 1, x) for x in t]
    assert_relative(g.pdf(t), dens, 2e-14)
    far = np.r_[t[:300], np.linspace(400.0, 2000.0, 50)]  # densities down to ~1e-1700
    logs = g.log_pdf(far)
    ref = [float(mp.log(LAM * pois(K - 1, x))) for x in far]
    np.testing.assert_allclose(logs, ref, rtol=1e-14)


def test_theta_rows_in_lock_step_match_each_row_and_dense_exponentials():
    # Rows whose rates are not one scale of each other (two parameters): eight rows per vector
    # lane group, stepped through the sorted times; each against its own call and against expm.
    from reference_models import two_parameter_block_counting

    g = two_parameter_block_counting(6)
    rng = np.random.default_rng(5)
    th = rng.uniform(0.3, 3.0, size=(11, 2))
    t = rng.permutation(np.r_[np.linspace(0.0, 6.0, 30), 1e-4, 25.0])
    for f in (g.pdf, g.survival, g.cdf):
        rows = f(t, theta=th)
        alone = np.array([f(t, theta=row) for row in th])
        np.testing.assert_allclose(rows, alone, rtol=1e-12, atol=0)
    for row in th[:3]:
        a, S, *_ = g.as_matrices(theta=row)
        e = -S.sum(axis=1)
        dense = np.array([a @ sl.expm(S * x) @ e for x in t])
        np.testing.assert_allclose(
            g.pdf(t, theta=th)[list(th[:, 0]).index(row[0])], dense, rtol=1e-9
        )
    # each row's own defect (start mass straight into absorption, 1 / (2 + θ) here) in its cdf
    from phasic import models

    k = models.kingman(5)
    k.starting_vertex().add_edge_parameterized(k.find_vertex([1]), 1.0, [0.0])
    thk = np.linspace(0.5, 3.0, 10)[:, None]
    rows = k.cdf(t, theta=thk)
    alone = np.array([k.cdf(t, theta=row) for row in thk])
    np.testing.assert_allclose(rows, alone, rtol=1e-12, atol=0)
    np.testing.assert_allclose(rows[:, list(t).index(0.0)], 1 / (2 + thk[:, 0]), rtol=1e-15)


def test_theta_rows_and_their_tangents_in_lock_step_match_differences():
    # vmap(jacfwd) of a two-parameter density (rows and tangents stepped eight at once) against
    # central differences of each row, its log far into the tail (t = 30) included.
    from reference_models import two_parameter_block_counting

    jax.config.update("jax_enable_x64", True)
    g = two_parameter_block_counting(8)
    t = jnp.asarray(np.r_[1e-4, np.linspace(0.05, 6.0, 40), 30.0])
    th = jnp.asarray(np.random.default_rng(2).uniform(0.3, 3.0, (13, 2)))
    for log in (False, True):
        m = Graph.pmf_from_graph(g, log=log)
        jac, jt = jax.vmap(jax.jacfwd(m, argnums=(0, 1)), in_axes=(0, None))(th, t)
        h = 1e-6
        for b in (0, 5, 12):
            fd = np.stack(
                [(m(th[b].at[q].add(h), t) - m(th[b].at[q].add(-h), t)) / (2 * h) for q in (0, 1)],
                -1,
            )
            np.testing.assert_allclose(jac[b], fd, rtol=1e-7, atol=1e-9)
            fdt = (m(th[b], t * (1 + 1e-7)) - m(th[b], t * (1 - 1e-7))) / (2e-7 * t)
            np.testing.assert_allclose(jnp.diagonal(jt[b]), fdt, rtol=1e-6, atol=1e-9)
