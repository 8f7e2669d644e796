"""Models used by the tests: the library's ready-made ones plus a hand-built birth-death chain."""

from __future__ import annotations

from phasic import Graph
from phasic.models import block_counting, kingman, rabbits, sfs_rewards, two_island_migration

__all__ = [
    "birth_death",
    "block_counting",
    "kingman",
    "rabbits",
    "sfs_rewards",
    "two_island_migration",
]


def birth_death(n_max: int, birth: float, death: float) -> Graph:
    """Birth-death chain on 1..n_max (birth blocked at n_max), absorbed at 0."""
    g = Graph(state_length=1)
    vs = [g.find_or_create_vertex([k]) for k in range(n_max + 1)]
    g.starting_vertex().add_edge(vs[1], 1.0)
    for k in range(1, n_max + 1):
        if k < n_max:
            vs[k].add_edge(vs[k + 1], birth * k)
        vs[k].add_edge(vs[k - 1], death * k)
    return g
