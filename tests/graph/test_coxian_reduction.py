"""Densities of level-structured acyclic graphs are swept on their exact Coxian reduction
(adaptive uniformization, src/cpp/reduce.cpp): values, far tails, θ and time derivatives against
dense matrix exponentials, mpmath and finite differences, including graphs where the reduction
must not be used for the derivative (a tie of two different rate functions)."""

from __future__ import annotations

import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
import scipy.linalg as sl

import jax
from phasic import Graph
from reference_models import block_counting, dense_epoch_moments


def dense(g: Graph, theta, times, what="pdf"):
    m = g.as_matrices(theta=np.asarray(theta, float))
    # exit rates: row sums of S, whose rounding (~1e-16 of the row's rates) is cleared, else it
    # reads as a real exit in the left tail (at block counting n = 20 it moved f(0.05) by 0.8%)
    e = -m.S.sum(axis=1)
    e[np.abs(e) <= 1e-12 * np.abs(np.diag(m.S))] = 0.0
    r = e if what == "pdf" else np.ones(m.S.shape[0])
    return np.array([m.alpha @ sl.expm(m.S * t) @ r for t in times])


def lineages_with_loss(n: int) -> Graph:
    """States (k, j): k lineages, j a branch label. From (k, j): coalescence at C(k, 2) θ0, to
    (k - 1, j) or (k - 1, j + 1) half each, and loss of the sample at k θ1 (absorbed). Every
    state of level k has the same rate function C(k, 2) θ0 + k θ1, so the graph reduces to a
    Coxian of n - 1 phases, with two parameters."""

    def cb(s):
        if not s.size:
            return [[[n, 0], 1.0, [0.0, 0.0]]]
        k, j = int(s[0]), int(s[1])
        if k <= 1:
            return []
        c = k * (k - 1) / 2
        return [
            [[k - 1, j], 0.0, [c / 2, 0.0]],
            [[k - 1, j + 1], 0.0, [c / 2, 0.0]],
            [[0, 0], 0.0, [0.0, float(k)]],
        ]

    g = Graph(callback=cb, parameterized=True, state_length=2)
    return g


def assert_values_and_jacobian(g: Graph, th, t, h: float = 1e-6):
    """Eager pdf against expm and the JAX Jacobian against central differences of it; returns
    the JAX model."""
    np.testing.assert_allclose(g.pdf(t, theta=th), dense(g, th, t), rtol=1e-10)
    model = Graph.pmf_from_graph(g)
    jac = jax.jacrev(lambda x: model(x, jnp.asarray(t)))(jnp.asarray(th))
    fd = np.stack(
        [(dense(g, th + h * e, t) - dense(g, th - h * e, t)) / (2 * h) for e in np.eye(len(th))],
        axis=1,
    )
    np.testing.assert_allclose(jac, fd, rtol=1e-6, atol=1e-9)
    return model


def test_block_counting_pdf_survival_cdf_match_expm():
    g = block_counting(7)
    t = np.array([0.01, 0.05, 0.4, 1.5, 4.0, 9.0])  # dense expm is absolute: no far tails here
    for th in (0.4, 1.0, 3.7):
        np.testing.assert_allclose(g.pdf(t, theta=[th]), dense(g, [th], t), rtol=1e-10)
        surv = dense(g, [th], t, "surv")
        np.testing.assert_allclose(g.survival(t, theta=[th]), surv, rtol=1e-10)
        np.testing.assert_allclose(g.cdf(t, theta=[th]), 1 - surv, rtol=1e-10, atol=1e-15)


def test_far_tails_on_both_sides_are_relative_accurate():
    # block counting n = 4 at θ = 1: the level rates are 6, 3, 1 (a hypoexponential), so the
    # density is a closed form; values span ~1e-3 (t = 1e-3, cdf ~1e-6) to e^-300.
    g = block_counting(4)
    rates = [mp.mpf(6), mp.mpf(3), mp.mpf(1)]

    def coef(i):
        return mp.fprod(lj / (lj - rates[i]) for j, lj in enumerate(rates) if j != i)

    def hypo_pdf(t):
        return mp.fsum(coef(i) * li * mp.e ** (-li * mp.mpf(t)) for i, li in enumerate(rates))

    def hypo_surv(t):
        return mp.fsum(coef(i) * mp.e ** (-li * mp.mpf(t)) for i, li in enumerate(rates))

    t = [1e-4, 1e-2, 1.0, 30.0, 300.0]
    pdf, cdf, surv = g.pdf(t, theta=[1.0]), g.cdf(t, theta=[1.0]), g.survival(t, theta=[1.0])
    with mp.workdps(50):  # local precision: mp.mp.dps is global to every test module
        for x, f, c, s in zip(t, pdf, cdf, surv, strict=True):
            ref_f, ref_s = hypo_pdf(x), hypo_surv(x)
            ref_c = 1 - ref_s
            assert abs(float((mp.mpf(f) - ref_f) / ref_f)) < 1e-12, x
            if x <= 1.0:  # left tail: the cdf relative to itself
                assert abs(float((mp.mpf(c) - ref_c) / ref_c)) < 1e-12, x
            else:  # right tail: survival relative to itself
                assert abs(float((mp.mpf(s) - ref_s) / ref_s)) < 1e-12, x


def test_two_parameter_values_and_jacobian_through_the_reduction():
    g = lineages_with_loss(6)
    assert g.compile().n_edges > 2 * 5  # larger than its 5-phase Coxian: the reduction is used
    th = np.array([1.3, 0.4])
    t = np.array([0.02, 0.3, 1.0, 3.0])
    model = assert_values_and_jacobian(g, th, t)
    h = 1e-6
    # d/dt against central differences in t
    dt = jax.grad(lambda s: jnp.sum(model(jnp.asarray(th), s)))(jnp.asarray(t))
    fdt = (dense(g, th, t + h) - dense(g, th, t - h)) / (2 * h)
    np.testing.assert_allclose(dt, fdt, rtol=1e-6, atol=1e-9)
    # log densities and batches go the same way
    logm = Graph.pmf_from_graph(g, log=True)
    np.testing.assert_allclose(
        logm(jnp.asarray(th), jnp.asarray(t)), np.log(dense(g, th, t)), rtol=1e-10
    )
    thB = np.array([[1.3, 0.4], [0.7, 2.0], [3.0, 0.0]])
    vals = jax.vmap(model, in_axes=(0, None))(jnp.asarray(thB), jnp.asarray(t))
    for row, v in zip(thB, vals, strict=True):
        np.testing.assert_allclose(v, dense(g, row, t), rtol=1e-10)
    gB = jax.vmap(jax.grad(lambda x: jnp.sum(model(x, jnp.asarray(t)))))(jnp.asarray(thB))
    for row, gv in zip(thB, gB, strict=True):
        fd_row = [
            (dense(g, row + h * e, t).sum() - dense(g, np.maximum(row - h * e, 0), t).sum())
            / (h + min(h, (row * e).sum()))
            for e in np.eye(2)
        ]
        np.testing.assert_allclose(gv, fd_row, rtol=1e-5, atol=1e-8)


def tied_branches() -> Graph:
    """Two branches whose states have rates θ0 and θ1: at θ0 = θ1 they tie numerically, but a
    perturbation separates them, so derivatives must not use the tied Coxian."""

    def cb(s):
        if not s.size:
            return [[[1, 0], 1.0, [0.0, 0.0]]]
        k, b = int(s[0]), int(s[1])
        if k == 1:
            return [[[2, 0], 0.0, [0.5, 0.0]], [[2, 1], 0.0, [0.5, 0.0]]]
        if k == 2:
            return [[[3, b], 0.0, [1.0, 0.0] if b == 0 else [0.0, 1.0]]]
        if k == 3:
            return [[[4, 0], 0.0, [0.0, 2.0]], [[4, 1], 0.0, [2.0, 0.0]]]
        return []

    return Graph(callback=cb, parameterized=True, state_length=2)


def test_a_tie_of_different_rate_functions_gives_the_true_gradient():
    # the values may use the reduction; the Jacobian must be the graph's, not the tied Coxian's
    g = tied_branches()
    th = np.array([1.5, 1.5])
    t = np.array([0.2, 1.0, 2.5])
    assert_values_and_jacobian(g, th, t)


@pytest.mark.parametrize("n", [10, 20])
def test_larger_block_counting_and_theta_batches_match_expm(n):
    g = block_counting(n)
    t = np.array([0.05, 0.5, 2.0, 6.0])
    thetas = np.array([[0.8], [2.5]])
    batch = g.pdf(t, theta=thetas)
    for th, row in zip(thetas, batch, strict=True):
        np.testing.assert_allclose(row, dense(g, th, t), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("which", ["lineages_with_loss", "tied_branches"])
def test_epoch_carry_through_the_reduction_and_its_gradient(which):
    # The expected total time under three epochs carries the state distribution forward across
    # the first two (propagate with k = 1: the Coxian carry when the graph reduces, its series
    # otherwise); values, θ-row and start-time gradients against dense exponentials.
    g = lineages_with_loss(6) if which == "lineages_with_loss" else tied_branches()
    r = 1.0 + np.arange(len(g.states())) % 3  # uneven: each state's occupation counts
    th = np.array([[1.3, 0.4], [0.5, 1.1], [2.0, 0.7]])
    if which == "tied_branches":
        th = np.array([[1.5, 1.5], [0.8, 0.8], [1.2, 1.2]])
    st = np.array([0.0, 0.3, 0.9])
    fn = Graph.moments_from_graph(g, 1, r, epochs=3)

    def ref(t, s):
        return dense_epoch_moments(g, r, t, s, 1)[0]

    np.testing.assert_allclose(fn(th, st)[0], ref(th, st), rtol=1e-10)
    gth, gst = jax.grad(lambda t, s: fn(t, s)[0], argnums=(0, 1))(jnp.asarray(th), jnp.asarray(st))
    h = 1e-6
    for i in range(3):
        for q in range(2):
            d = h * np.eye(2)[q] * (np.arange(3) == i)[:, None]
            fd = (ref(th + d, st) - ref(th - d, st)) / (2 * h)
            np.testing.assert_allclose(gth[i, q], fd, rtol=1e-6, atol=1e-9)
    for i in (1, 2):
        d = h * np.eye(3)[i]
        fd = (ref(th, st + d) - ref(th, st - d)) / (2 * h)
        np.testing.assert_allclose(gst[i], fd, rtol=1e-6, atol=1e-9)


def test_a_long_coxian_batch_goes_row_by_row_and_matches_expm():
    # Two interleaved chains of 12 levels (level rate k θ0 + θ1): 24 states, 48 edges, a
    # 12-phase Coxian whose (2M)^2 one-hot coefficients would outweigh the graph, so a batch is
    # swept row by row with constant weights.
    n = 12

    def cb(s):
        if not s.size:
            return [[[n, 0], 1.0, [0.0, 0.0]]]
        k = int(s[0])
        if k == 0:
            return []
        return [[[k - 1, 0], 0.0, [k / 2, 0.5]], [[k - 1, 1], 0.0, [k / 2, 0.5]]]

    g = Graph(callback=cb, parameterized=True, state_length=2)
    t = np.array([0.05, 0.4, 1.5, 4.0])
    thetas = np.array([[1.0, 0.3], [0.6, 1.2], [2.0, 0.0]])
    for what, fn in (("pdf", g.pdf), ("surv", g.survival)):
        batch = fn(t, theta=thetas)
        for th, row in zip(thetas, batch, strict=True):
            np.testing.assert_allclose(row, dense(g, th, t, what), rtol=1e-10, atol=1e-15)
    assert_values_and_jacobian(g, thetas[0], t[1:])  # dense expm is absolute in the left tail


@pytest.mark.parametrize("which", ["block_counting", "tied_branches"])
def test_an_epoch_carry_and_occupation_match_dense_exponentials(which):
    # One epoch of the state distribution: where it ends, a exp(-A Δ), and the time it spends in
    # each state meanwhile, ∫ a exp(-A s) ds (the top-right block of expm([[-A, I], [0, 0]] Δ)).
    # Block counting reduces to a Coxian (the kernel reports no series steps); the tied model
    # does not, and takes the series and a transposed solve.
    from phasic.jax._ops import ops_for

    g = block_counting(6) if which == "block_counting" else tied_branches()
    th = np.array([0.7]) if which == "block_counting" else np.array([1.5, 1.5])
    ops, dense_ops = ops_for(g.compile(), "ffi"), ops_for(g.compile(), "jax")
    a = np.asarray(ops.alpha(jnp.asarray(th)))
    A = np.asarray(dense_ops.matrix(jnp.asarray(th))[0])
    n = A.shape[0]
    for delta in (0.0, 0.05, 0.6, 3.0):
        y, occ, steps = ops.carry_raw(
            jnp.asarray(th), jnp.asarray(a), jnp.float64(delta), jnp.float64(1e-14), 10**6
        )
        big = sl.expm(np.block([[-A, np.eye(n)], [np.zeros((n, n)), np.zeros((n, n))]]) * delta)
        np.testing.assert_allclose(y, a @ big[:n, :n], rtol=1e-11, atol=1e-15)
        np.testing.assert_allclose(occ, a @ big[:n, n:], rtol=1e-11, atol=1e-15)
        assert delta == 0 or (steps == 0) == (which == "block_counting")
