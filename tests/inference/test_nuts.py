"""NUTS: conjugate posterior, an exact 2-d phase-type posterior on a grid, checkpoints, summary."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from phasic import NUTS, Graph, ParameterError, PhasicError
from reference_models import grid_posterior

SHORT = dict(n_chains=2, n_warmup=300, n_samples=400, verbose=False)


def test_conjugate_exponential_gamma_posterior():
    rng = np.random.default_rng(1)
    x = rng.exponential(1 / 2.0, size=30)
    a, b = 2.0, 1.0
    s = NUTS(
        lambda th, t: th[0] * jnp.exp(-th[0] * t),
        x,
        prior=lambda th: (a - 1) * jnp.log(th[0]) - b * th[0],
        likelihood="density",
        theta_dim=1,
        transform="softplus",
        **SHORT,
    ).fit()
    mean, sd = (a + x.size) / (b + x.sum()), np.sqrt(a + x.size) / (b + x.sum())
    assert abs(s.theta_mean[0] - mean) < 0.15 * sd  # ~3 Monte Carlo standard errors
    assert abs(s.theta_std[0] - sd) < 0.12 * sd
    assert s.draws.shape == (2, 400, 1) and s.particles.shape == (800, 1)
    assert s.diagnostics["r_hat"][0] < 1.02 and s.diagnostics["ess"][0] > 150
    assert "r_hat" in s.summary() and s.to_arviz().posterior["theta_0"].shape == (2, 400)


def _two_phase() -> Graph:
    """Hypoexponential: phase 1 (rate θ0) then phase 2 (rate θ1)."""
    g = Graph(state_length=1, parameterized=True)
    v1, v2, a = (g.find_or_create_vertex([k]) for k in (1, 2, 3))
    g.starting_vertex().add_edge(v1, 1.0)
    v1.add_edge_parameterized(v2, 0.0, [1.0, 0.0])
    v2.add_edge_parameterized(a, 0.0, [0.0, 1.0])
    return g


def test_two_parameter_phase_type_posterior_matches_the_exact_grid():
    g = _two_phase()
    rng = np.random.default_rng(3)
    t = rng.exponential(1 / 1.0, 40) + rng.exponential(1 / 3.0, 40)
    # warm-up tries far-out θ: a step limit makes those points -inf (rejected) instead of long
    # series (the cost of a density grows with rate × time)
    model = Graph.pmf_from_graph(g, max_steps=10_000)
    # a Gamma(2, 1) prior on each rate: with a flat one the posterior is improper (θ1 → ∞
    # leaves an exponential likelihood)
    prior = lambda th: jnp.sum(jnp.log(th) - th)  # noqa: E731
    s = NUTS(model, t, prior=prior, likelihood="density", transform="softplus", **SHORT).fit()
    grid = np.linspace(0.02, 14, 300)
    th, w = grid_posterior(g, t, grid, grid)
    mean = w @ th
    sd = np.sqrt(w @ (th - mean) ** 2)
    # the likelihood is symmetric in (θ0, θ1): compare the sorted pair, as chains may pick a mode
    d = np.sort(s.draws.reshape(-1, 2), axis=1)
    sym = np.sort(th, axis=1)
    mean_s, sd_s = w @ sym, np.sqrt(w @ (sym - w @ sym) ** 2)
    assert np.all(np.abs(d.mean(0) - mean_s) < 0.25 * sd_s), (d.mean(0), mean_s, sd_s)
    np.testing.assert_allclose(d.std(0), sd_s, rtol=0.2)
    assert np.all(sd > 0)


def test_checkpoint_resumes_and_refuses_another_target(tmp_path):
    path = tmp_path / "nuts.npz"
    kw = dict(
        log_likelihood=lambda th: -0.5 * jnp.sum((th - 1.0) ** 2),
        theta_dim=2,
        n_chains=2,
        n_warmup=50,
        n_samples=60,
        block_size=20,
        verbose=False,
        checkpoint_path=path,
    )
    first = NUTS(None, None, **kw).fit()
    again = NUTS(None, None, **kw).fit()  # the finished checkpoint: same draws, no new work
    np.testing.assert_array_equal(first.draws, again.draws)
    kw["log_likelihood"] = lambda th: -0.5 * jnp.sum((th - 2.0) ** 2)
    with pytest.raises(PhasicError, match="different .* configuration"):
        NUTS(None, None, **kw).fit()


def test_bad_settings_are_named():
    ll = lambda th: -jnp.sum(th**2)  # noqa: E731
    with pytest.raises(ParameterError, match="n_samples = 0"):
        NUTS(None, None, log_likelihood=ll, theta_dim=1, n_samples=0)
    with pytest.raises(ParameterError, match="target_accept"):
        NUTS(None, None, log_likelihood=ll, theta_dim=1, target_accept=1.5)
    with pytest.raises(PhasicError, match="call fit"):
        NUTS(None, None, log_likelihood=ll, theta_dim=1).summary()
