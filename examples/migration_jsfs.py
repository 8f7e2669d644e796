"""Isolation with migration: two populations that split T time units ago from one ancestral
population, exchanging migrants since. Expected joint site frequency spectrum.

Two samples from each population (`phasic.models.isolation_migration`: lineages counted by
the samples they subtend in each population and where they sit). θ = (coalescence rate in
pop 1, in pop 2, across, migration 1 -> 2, migration 2 -> 1). The split is a second epoch: from
T on (looking back) every pair coalesces at rate 1 whatever its label, so the expectation with
``epochs=[0, T]`` is the joint SFS: branch lengths accumulated under the IM rates until T and
under the ancestral ones after.
"""

import numpy as np

from phasic import models

n1, n2 = 2, 2
g = models.isolation_migration(n1, n2)
R = models.joint_sfs_rewards(g, n1, n2)
im = [1.0, 2.0, 0.0, 0.2, 0.2]  # after the split: pop 2 half as large, migration 0.2
ancestral = [1.0, 1.0, 1.0, 0.0, 0.0]


def joint_sfs(split_time):
    if split_time == 0:
        return g.expectation(R, theta=ancestral).reshape(n1 + 1, n2 + 1)
    e = g.expectation(R, theta=[im, ancestral], epochs=[0.0, split_time])
    return e.reshape(n1 + 1, n2 + 1)


print(f"{g.vertices_length()} states, acyclic: {g.is_acyclic()}")
for T in (0.0, 0.5, 2.0):
    table = joint_sfs(T)
    print(f"split time T = {T}: expected joint SFS (rows: pop-1 count, columns: pop-2 count)")
    print(np.round(table, 4))
    print(f"  total branch length {table.sum():.4f}")
print(
    "T = 0 is one panmictic population: total length 2(1 + 1/2 + 1/3) =",
    round(2 * (1 + 1 / 2 + 1 / 3), 4),
)
