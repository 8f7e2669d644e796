"""Exact simulation agrees with the exact moments; draws are reproducible."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from reference_models import kingman, rabbits, two_island_migration

N = 200_000
Z = 4.5  # |z| bound for Monte-Carlo agreement (false alarm ~ 7e-6 per check)


def assert_mean_close(draws: np.ndarray, mean: float) -> None:
    se = draws.std(ddof=1) / np.sqrt(draws.size)
    assert abs(draws.mean() - mean) < Z * se, (draws.mean(), mean, se)


def assert_var_close(draws: np.ndarray, var: float) -> None:
    c = draws - draws.mean()
    se = np.sqrt((np.mean(c**4) - np.mean(c**2) ** 2) / draws.size)
    assert abs(c.var(ddof=1) - var) < Z * se, (c.var(), var, se)


def test_kingman_samples_match_exact_mean_and_variance():
    g = kingman(8)
    x = g.sample(N, rng=np.random.default_rng(1), theta=[1.2])
    assert_mean_close(x, g.expectation(theta=[1.2]))
    assert_var_close(x, g.variance(theta=[1.2]))


def test_two_samples_are_exponential_ks():
    g = kingman(2)
    x = g.sample(5000, rng=3, theta=[2.0])
    assert stats.kstest(x, stats.expon(scale=0.5).cdf).pvalue > 1e-3


def test_cyclic_samples_match_exact_moments():
    g = rabbits(3)
    x = g.sample(N, rng=2)
    assert_mean_close(x, g.expectation())
    assert_var_close(x, g.variance())


def test_reward_samples_and_multivariate_covariance():
    g = two_island_migration(4)
    theta = np.array([1.0, 0.5, 0.7])
    st = g.states()
    R = np.stack([st[:, 0], st[:, 1]], axis=1).astype(float)  # lineages in each island
    R[0] = 0
    y = g.sample_multivariate(N, R, rng=5, theta=theta)
    assert y.shape == (N, 2)
    mu = g.expectation(rewards=R, theta=theta)
    cov = g.covariance(R, theta=theta)
    for i in range(2):
        assert_mean_close(y[:, i], mu[i])
    prod = (y[:, 0] - y[:, 0].mean()) * (y[:, 1] - y[:, 1].mean())
    assert abs(prod.mean() - cov[0, 1]) < Z * prod.std() / np.sqrt(N)


def test_discrete_samples_match_exact_moments():
    from phasic import Graph

    P = np.array([[0.1, 0.5, 0.2], [0.3, 0.2, 0.1], [0.0, 0.4, 0.3]])
    g = Graph.from_matrices(np.array([0.6, 0.4, 0.0]), P, discrete=True)
    k = g.sample_discrete(N, rng=4)
    assert np.all(k == np.round(k)) and k.min() >= 1
    assert_mean_close(k, g.expectation_discrete())
    assert_var_close(k, g.variance_discrete())


def test_sampling_is_reproducible_with_a_generator():
    g = kingman(5)
    a = g.sample(100, rng=np.random.default_rng(7), theta=[1.0])
    b = g.sample(100, rng=np.random.default_rng(7), theta=[1.0])
    c = g.sample(100, rng=np.random.default_rng(8), theta=[1.0])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_defect_gives_zero_draws():
    from phasic import Graph

    g = Graph.from_matrices([0.25], [[-1.0]])
    x = g.sample(N, rng=0)
    p0 = np.mean(x == 0)
    assert abs(p0 - 0.75) < Z * np.sqrt(0.75 * 0.25 / N)
    assert_mean_close(x, g.expectation())
    assert g.expectation() == pytest.approx(0.25)
