"""Reward transformation: the transformed graph's absorption time is the accumulated reward."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from random_models import models, vertex_rewards
from reference_models import block_counting, sfs_rewards

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(models(cyclic=True))
def test_reward_transform_preserves_reward_moments(m):
    rng = np.random.default_rng(0)
    r = rng.uniform(0.1, 2.0, m.n) * (rng.random(m.n) < 0.7)
    if not r.any():
        r[0] = 1.0
    rv = vertex_rewards(m, r)
    t = m.graph.reward_transform(rv, theta=m.theta)
    np.testing.assert_allclose(
        t.moments(3), m.graph.moments(3, rewards=rv, theta=m.theta), rtol=1e-9
    )


@SETTINGS
@given(models(cyclic=True, discrete=True))
def test_reward_transform_discrete_preserves_reward_moments(m):
    rng = np.random.default_rng(1)
    r = rng.integers(0, 4, m.n).astype(float)
    if not r.any():
        r[0] = 2.0
    rv = vertex_rewards(m, r)
    t = m.graph.reward_transform_discrete(rv)
    np.testing.assert_allclose(
        t.moments_discrete(3), m.graph.moments_discrete(3, rewards=rv), rtol=1e-9
    )


def test_reward_transform_of_sfs_class_gives_2_over_i():
    n = 6
    g = block_counting(n)
    r = sfs_rewards(g, n)
    for i in range(n - 1):
        t = g.reward_transform(r[:, i], theta=[1.0])
        assert t.expectation() == pytest.approx(2 / (i + 1), rel=1e-12)
        # zero-reward vertices are bypassed: fewer vertices than the original
        assert t.vertices_length() < g.vertices_length()


def test_reward_transform_rejects_bad_rewards():
    g = block_counting(4)
    from phasic import ParameterError

    with pytest.raises(ParameterError, match="rewards must be >= 0"):
        g.reward_transform(-np.ones(g.vertices_length()), theta=[1.0])
    with pytest.raises(ParameterError, match="all rewards are zero"):
        g.reward_transform(np.zeros(g.vertices_length()), theta=[1.0])
    with pytest.raises(ParameterError, match="integers"):
        g.reward_transform_discrete(np.full(g.vertices_length(), 0.5), theta=[0.01])


def test_discretize_counts_mutations_geometric_for_two_samples():
    from reference_models import kingman

    m = 0.7  # two lineages, mutation rate m/2 each: singletons ~ Geometric(1 / (1 + m)) from 0
    g = kingman(2)
    gd, rew = g.discretize(np.array([0.0, m, 0.0]), theta=[1.0])
    assert gd.expectation_discrete(rew) == pytest.approx(m, rel=1e-13)
    ks = np.arange(6)
    pmf = gd.reward_transform_discrete(rew).pmf_discrete(ks)
    np.testing.assert_allclose(pmf, (1 / (1 + m)) * (m / (1 + m)) ** ks, rtol=1e-12)


def test_discretized_sfs_expectations_are_theta_over_i():
    n, m = 6, 0.9
    g = block_counting(n)
    gd, rew = g.discretize(sfs_rewards(g, n) * m / 2, theta=[1.0])
    assert rew.shape == (gd.vertices_length(), n - 1)
    np.testing.assert_allclose(gd.expectation_discrete(rew), m / np.arange(1, n), rtol=1e-12)
    # each class's count distribution sums to 1 and has the right mean
    t = gd.reward_transform_discrete(rew[:, 1])
    p = t.pmf_discrete(np.arange(200))
    assert p.sum() == pytest.approx(1.0, abs=1e-10)
    assert (np.arange(200) * p).sum() == pytest.approx(m / 2, rel=1e-9)
