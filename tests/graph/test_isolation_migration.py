"""The isolation-with-migration model against dense references of its own pieces."""

from __future__ import annotations

import numpy as np
from scipy.stats import hypergeom

from phasic.models import block_counting, isolation_migration, joint_sfs_rewards, sfs_rewards


def test_one_population_margin_is_the_block_counting_sfs():
    # Every pair coalescing at one rate wherever it sits makes the labels one population of
    # n1 + n2 samples, exchangeable: an independent check of states, rates and rewards.
    n1, n2 = 3, 2
    g = isolation_migration(n1, n2)
    r = joint_sfs_rewards(g, n1, n2)
    theta = [1.0, 1.0, 1.0, 0.0, 0.0]  # one panmictic population
    joint = g.expectation(r, theta=theta).reshape(n1 + 1, n2 + 1)
    # pooled by total derived count it is the SFS of n1 + n2 samples
    i, j = np.indices(joint.shape)
    pooled = np.bincount((i + j).ravel(), joint.ravel(), minlength=n1 + n2 + 1)[1:-1]
    bc = block_counting(n1 + n2)
    np.testing.assert_allclose(pooled, bc.expectation(sfs_rewards(bc, n1 + n2), theta=[1.0]))
    # and each cell is the hypergeometric share of its pooled class
    for k in range(1, n1 + n2):
        share = hypergeom(n1 + n2, n1, k).pmf(i[:, 0])
        col = np.array([joint[a, k - a] if 0 <= k - a <= n2 else 0.0 for a in range(n1 + 1)])
        np.testing.assert_allclose(col, share * pooled[k - 1], rtol=1e-12, atol=1e-15)
