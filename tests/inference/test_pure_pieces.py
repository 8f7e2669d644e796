"""The pieces under `SVGD`, tested without the class: likelihood families, the target, the pure
step, the shared run loop and checkpoints."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import stats

import jax
from phasic import PhasicError
from phasic.inference import (
    density_log_likelihood,
    gaussian_log_likelihood,
    make_logdensity,
    svgd_init,
    svgd_step,
)
from phasic.inference._checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from phasic.inference._loop import block_length, run_blocks
from phasic.inference._stein_kernels import resolve_kernel
from phasic.inference._transforms import resolve_transform


def test_gaussian_family_matches_scipy_up_to_a_constant():
    y = np.array([0.3, -1.2, 2.0])
    pred_a, pred_b = np.array([0.0, -1.0, 1.5]), np.array([1.0, 0.0, 0.0])
    ref = [stats.norm(p, 0.7).logpdf(y).sum() for p in (pred_a, pred_b)]
    got = [
        float(gaussian_log_likelihood(jnp.asarray(p), jnp.asarray(y), 0.7))
        for p in (pred_a, pred_b)
    ]
    np.testing.assert_allclose(got[0] - got[1], ref[0] - ref[1], rtol=1e-13)


def test_profile_family_is_the_gaussian_maximised_over_sigma():
    y, pred = np.array([0.3, -1.2, 2.0, 0.1]), np.array([0.0, -1.0, 1.5, 0.4])
    rss = np.sum((y - pred) ** 2)
    sigma_hat = np.sqrt(rss / y.size)
    best = stats.norm(pred, sigma_hat).logpdf(y).sum()
    const = -0.5 * y.size * (np.log(2 * np.pi) + 1)  # what the profile form leaves out
    got = float(gaussian_log_likelihood(jnp.asarray(pred), jnp.asarray(y), None))
    np.testing.assert_allclose(got + const, best, rtol=1e-13)


def test_density_family_weights_each_log_density():
    f = jnp.array([0.5, 2.0, 1e-320])
    got = density_log_likelihood(f, jnp.array([2.0, 1.0, 0.0]))
    np.testing.assert_allclose(float(got), 2 * np.log(0.5) + np.log(2.0), rtol=1e-14)
    np.testing.assert_allclose(float(density_log_likelihood(f[:2])), np.log(1.0), atol=1e-15)


def test_logdensity_adds_jacobian_prior_and_penalty():
    tr = resolve_transform("log")
    ld = make_logdensity(
        lambda th: -jnp.sum(th), tr, prior=lambda th: -2 * th[0], penalty=lambda th: th[1] ** 2
    )
    z = jnp.array([0.1, -0.3])
    th = np.exp(np.asarray(z))
    expected = -th.sum() + float(z.sum()) - 2 * th[0] + th[1] ** 2
    np.testing.assert_allclose(float(ld(z)), expected, rtol=1e-14)


def test_pure_svgd_step_reaches_a_gaussian_mean_and_spread():
    mean, sd = np.array([1.0, -2.0]), np.array([0.5, 2.0])
    logdensity = lambda z: -0.5 * jnp.sum(((z - mean) / sd) ** 2)  # noqa: E731
    opt = optax.adam(optax.exponential_decay(0.2, 100, 0.1))
    z0 = jax.random.normal(jax.random.key(0), (100, 2))
    state = svgd_init(z0, opt)
    step = jax.jit(lambda st: svgd_step(st, logdensity, resolve_kernel("median"), opt))
    for _ in range(600):
        state, info = step(state)
    x = np.asarray(state.particles)
    assert int(state.iteration) == 600 and int(info.bad_particle) == -1
    assert np.all(np.abs(x.mean(0) - mean) < 0.05 * sd)
    np.testing.assert_allclose(x.std(0, ddof=1), sd, rtol=0.1)


def test_pure_step_reports_a_non_finite_score_and_padding_stays():
    logdensity = lambda z: jnp.sqrt(z[0])  # noqa: E731 - NaN score for z < 0
    opt = optax.sgd(0.1)
    state = svgd_init(jnp.array([[1.0], [2.0], [-1.0], [5.0]]), opt)
    new, info = svgd_step(
        state, logdensity, resolve_kernel("median"), opt, weights=jnp.array([1.0, 1.0, 1.0, 0.0])
    )
    assert int(info.bad_particle) == 2
    assert float(new.particles[3, 0]) == 5.0  # padding neither moves nor counts
    assert np.all(np.isfinite(np.asarray(new.particles)))


def test_run_loop_saves_on_multiples_and_at_the_end_and_stops_early():
    calls, saves = [], []

    def run_block(state, n):
        calls.append(n)
        return state + n, np.arange(n), None

    state, it = run_blocks(
        run_block,
        0,
        start=0,
        n_iterations=23,
        block=block_length(10, 5),
        record=lambda it, n, out, info: False,
        save=lambda st, i: saves.append(i),
        checkpoint_every=10,
    )
    assert (state, it, calls) == (23, 23, [5, 5, 5, 5, 3])
    assert saves == [10, 20, 23]
    state, it = run_blocks(
        run_block, 0, start=5, n_iterations=50, block=5, record=lambda it, n, o, i: it >= 10
    )
    assert it == 15


def test_checkpoint_round_trip_and_refusals(tmp_path):
    path = tmp_path / "cp.npz"
    leaves = [np.arange(6.0).reshape(3, 2), np.float64(0.5)]
    cp = Checkpoint(leaves, 7, [np.ones((3, 2))], {"movement": [0.1] * 7})
    save_checkpoint(path, "fp", cp)
    back = load_checkpoint(path, "fp", leaves, ("movement",), 10)
    assert back.iteration == 7 and back.diagnostics == {"movement": [0.1] * 7}
    np.testing.assert_array_equal(back.leaves[0], leaves[0])
    with pytest.raises(PhasicError, match="different SVGD configuration"):
        load_checkpoint(path, "other", leaves, ("movement",), 10)
    with pytest.raises(PhasicError, match="7 iterations of 5"):
        load_checkpoint(path, "fp", leaves, ("movement",), 5)
    with pytest.raises(PhasicError, match="wrong shape"):
        load_checkpoint(path, "fp", [np.zeros((2, 2)), np.float64(0)], ("movement",), 10)


def test_a_prior_without_direction_is_refused_up_front():
    # issue 14 item 15: a constant NaN or -inf prior was accepted and SVGD moved on repulsion only
    from phasic import SVGD, ParameterError

    ll = lambda th: -jnp.sum(th**2)  # noqa: E731
    kw = dict(log_likelihood=ll, theta_dim=1, n_particles=4, verbose=False)
    with pytest.raises(ParameterError, match=r"prior\(theta\) is NaN at θ = \["):
        SVGD(None, None, prior=lambda th: jnp.nan * th[0], **kw)
    with pytest.raises(ParameterError, match="-inf at every starting point"):
        SVGD(None, None, prior=lambda th: -jnp.inf + 0 * th[0], **kw)
    inside_some = lambda th: jnp.where(th[0] > 1.0, -jnp.inf, 0.0)  # noqa: E731
    SVGD(None, None, prior=inside_some, theta_init=[[0.6], [0.8], [1.2], [1.4]], **kw)
