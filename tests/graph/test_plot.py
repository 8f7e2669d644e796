"""Graph drawings: clusters, colours and layout in the graphviz source (no renderer needed)."""

from __future__ import annotations

import pytest

from phasic import GraphError, models

graphviz = pytest.importorskip("graphviz")


def test_clusters_colours_and_layout():
    g = models.rabbits(2)
    dot = g.plot(
        subgraphfun=lambda s: f"total {s.sum()}",
        color_by=lambda s: s[0] > 0,
        rankdir="TB",
        size="6,4",
    )
    src = dot.source
    assert isinstance(dot, graphviz.Digraph)
    assert "rankdir=TB" in src and 'size="6,4"' in src
    # the three states with 2 rabbits in one box, the two with 1 and the empty one in theirs
    assert src.count("subgraph cluster_") == 3 and 'label="total 2"' in src
    # [2, 0] and [1, 1] share a colour (left island occupied), [0, 2] has the other
    colours = {
        line.split('"')[1]: line.split("fillcolor=")[1].split()[0]
        for line in src.splitlines()
        if "fillcolor" in line
    }
    assert colours["2,0"] == colours["1,1"] != colours["0,2"]
    shaded = g.plot(rewards=g.states()[:, 0]).source
    assert (
        'label="2,0" fillcolor="#0000ff"' in shaded and 'label="0,0" fillcolor="#ffffff"' in shaded
    )
    with pytest.raises(GraphError, match="rankdir"):
        g.plot(rankdir="up")
    with pytest.raises(GraphError, match="one value per vertex"):
        g.plot(rewards=[1.0, 2.0])
