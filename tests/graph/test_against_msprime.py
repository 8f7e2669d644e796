"""Independent simulation: msprime's coalescent agrees with the exact T_MRCA moments and SFS."""

from __future__ import annotations

import numpy as np
import pytest

from phasic.models import isolation_migration, joint_sfs_rewards
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


# A bottleneck: size 1 now, 0.2 from 0.3 to 0.5, 2 before (ploidy 1: pair rate 1/size).
BOTTLENECK_THETA = np.array([[1.0], [5.0], [0.5]])
BOTTLENECK_STARTS = np.array([0.0, 0.3, 0.5])


def test_sfs_under_a_bottleneck_agrees_with_msprime():
    n, reps = 20, 3000
    dem = msprime.Demography()
    dem.add_population(name="A", initial_size=1.0)
    dem.add_population_parameters_change(time=0.3, initial_size=0.2, population="A")
    dem.add_population_parameters_change(time=0.5, initial_size=2.0, population="A")
    sims = msprime.sim_ancestry(
        samples=n, ploidy=1, demography=dem, num_replicates=reps, random_seed=7
    )
    sfs = np.array(
        [ts.allele_frequency_spectrum(mode="branch", polarised=True)[1:-1] for ts in sims]
    )
    g = block_counting(n)
    r = sfs_rewards(g, n)
    exact = g.expectation(r, theta=BOTTLENECK_THETA, epochs=BOTTLENECK_STARTS)
    se = sfs.std(axis=0, ddof=1) / np.sqrt(reps)
    assert np.all(np.abs(sfs.mean(axis=0) - exact) < Z * se)
    # the test can tell: the constant-size SFS fails it
    assert np.max(np.abs(sfs.mean(axis=0) - 2 / np.arange(1, n)) / se) > Z
    cov = g.covariance(r[:, :2], theta=BOTTLENECK_THETA, epochs=BOTTLENECK_STARTS)
    prod = (sfs[:, 0] - sfs[:, 0].mean()) * (sfs[:, 1] - sfs[:, 1].mean())
    assert abs(prod.mean() - cov[0, 1]) < Z * prod.std() / np.sqrt(reps)


def test_joint_sfs_of_isolation_with_migration_agrees_with_msprime():
    n1 = n2 = 3
    reps = 3000
    sizes, m, split, ancestral = (1.0, 0.5), 0.4, 0.6, 1.5
    dem = msprime.Demography()
    dem.add_population(name="P1", initial_size=sizes[0])
    dem.add_population(name="P2", initial_size=sizes[1])
    dem.add_population(name="ANC", initial_size=ancestral)
    dem.set_symmetric_migration_rate(["P1", "P2"], m)
    dem.add_population_split(time=split, derived=["P1", "P2"], ancestral="ANC")
    sims = msprime.sim_ancestry(
        samples={"P1": n1, "P2": n2},
        ploidy=1,
        demography=dem,
        num_replicates=reps,
        random_seed=11,
    )
    jsfs = []
    for ts in sims:
        sets = [ts.samples(population=0), ts.samples(population=1)]
        jsfs.append(
            ts.allele_frequency_spectrum(sample_sets=sets, mode="branch", polarised=True).ravel()
        )
    jsfs = np.array(jsfs)
    g = isolation_migration(n1, n2)
    theta = np.array(
        [
            [1 / sizes[0], 1 / sizes[1], 0.0, m, m],
            [1 / ancestral, 1 / ancestral, 1 / ancestral, 0, 0],
        ]
    )
    exact = g.expectation(joint_sfs_rewards(g, n1, n2), theta=theta, epochs=[0.0, split])
    se = jsfs.std(axis=0, ddof=1) / np.sqrt(reps)
    inner = se > 0  # the monomorphic corners
    assert np.all(np.abs(jsfs.mean(axis=0) - exact)[inner] < Z * se[inner])
    assert np.all(exact[~inner] == 0)
