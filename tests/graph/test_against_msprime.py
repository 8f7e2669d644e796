"""Independent simulation: msprime's coalescent agrees with the exact T_MRCA moments and SFS."""

from __future__ import annotations

import numpy as np
import pytest

from reference_models import block_counting, kingman, sfs_rewards

msprime = pytest.importorskip("msprime")

Z = 4.5
REPS = 4000


@pytest.fixture(scope="module")
def trees():
    # ploidy=1, population_size=1: each pair coalesces at rate 1, i.e. θ = 1 in our models.
    sims = msprime.sim_ancestry(
        samples=10, ploidy=1, population_size=1, num_replicates=REPS, random_seed=12345
    )
    tmrca, sfs = [], []
    for ts in sims:
        tree = ts.first()
        tmrca.append(tree.time(tree.root))
        sfs.append(ts.allele_frequency_spectrum(mode="branch", polarised=True)[1:-1])
    return np.array(tmrca), np.array(sfs)


def test_tmrca_mean_and_variance_agree_with_msprime(trees):
    t, _ = trees
    g = kingman(10)
    mean, var = g.expectation(theta=[1.0]), g.variance(theta=[1.0])
    assert abs(t.mean() - mean) < Z * t.std() / np.sqrt(REPS)
    c = t - t.mean()
    se_var = np.sqrt((np.mean(c**4) - np.mean(c**2) ** 2) / REPS)
    assert abs(c.var(ddof=1) - var) < Z * se_var


def test_sfs_agrees_with_msprime_branch_lengths(trees):
    _, sfs = trees
    g = block_counting(10)
    exact = g.expectation(rewards=sfs_rewards(g, 10), theta=[1.0])
    se = sfs.std(axis=0, ddof=1) / np.sqrt(REPS)
    assert np.all(np.abs(sfs.mean(axis=0) - exact) < Z * se)
    # and the covariance of two classes
    cov = g.covariance(sfs_rewards(g, 10), theta=[1.0])
    prod = (sfs[:, 0] - sfs[:, 0].mean()) * (sfs[:, 1] - sfs[:, 1].mean())
    assert abs(prod.mean() - cov[0, 1]) < Z * prod.std() / np.sqrt(REPS)
