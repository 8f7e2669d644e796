"""Drawing small graphs with graphviz (optional dependency)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import GraphError

if TYPE_CHECKING:
    from ._graph import Graph

_PALETTE = ["#a6cee3", "#b2df8a", "#fb9a99", "#fdbf6f", "#cab2d6", "#ffff99", "#1f78b4", "#33a02c"]


def plot_graph(
    graph: Graph,
    filename: str | None = None,
    max_vertices: int = 200,
    *,
    subgraphfun: Callable[[np.ndarray], Any] | None = None,
    color_by: Callable[[np.ndarray], Any] | None = None,
    rewards: Any = None,
    rankdir: str = "LR",
    format: str = "pdf",
    **graph_attr: str,
) -> Any:
    """A ``graphviz.Digraph`` of the graph (notebooks display it); see `Graph.plot`."""
    try:
        import graphviz
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Graph.plot needs the graphviz Python package and the Graphviz 'dot' program: "
            "pip install graphviz (and apt-get install graphviz)"
        ) from exc
    nv = graph.vertices_length()
    if nv > max_vertices:
        raise GraphError(
            f"the graph has {nv} vertices; plot draws at most max_vertices={max_vertices}. "
            "Pass a larger max_vertices to draw it anyway."
        )
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise GraphError(f"rankdir={rankdir!r} must be one of 'LR', 'TB', 'RL', 'BT'")
    fill = _fill_colors(graph, color_by, rewards)
    dot = graphviz.Digraph(format=format, graph_attr={"rankdir": rankdir, **graph_attr})
    groups: dict[str, list[tuple[str, str, dict[str, str]]]] = {}
    for v in graph.vertices():
        label = "start" if v.is_start() else ",".join(map(str, v.state().tolist()))
        attrs = {"shape": "doublecircle" if v.is_absorbing() else "ellipse"}
        colour = fill[v.index]
        if colour is not None:
            attrs.update(style="filled", fillcolor=colour)
        node = (str(v.index), label, attrs)
        if subgraphfun is not None and not v.is_start():
            groups.setdefault(str(subgraphfun(v.state())), []).append(node)
        else:
            dot.node(node[0], node[1], **attrs)
        for e in v.edges():
            if graph.parameterized and e.coefficients.size:
                lab = f"{e.base_weight:g}+{e.coefficients.tolist()}·θ"
            else:
                lab = f"{float(e.weight):g}"
            dot.edge(str(v.index), str(e.to.index), label=lab)
    for i, (name, nodes) in enumerate(groups.items()):
        with dot.subgraph(name=f"cluster_{i}") as sub:
            sub.attr(label=name, style="rounded")
            for key, label, attrs in nodes:
                sub.node(key, label, **attrs)
    if filename is not None:
        dot.render(filename, cleanup=True)
    return dot


def _fill_colors(graph: Graph, color_by: Any, rewards: Any) -> list[str | None]:
    """A fill colour per vertex: categories of ``color_by(state)`` from a palette, or a
    white-to-blue scale of a reward vector; None where there is nothing to colour."""
    nv = graph.vertices_length()
    if color_by is not None and rewards is not None:
        raise GraphError("plot: pass color_by or rewards, not both")
    if color_by is not None:
        keys: dict[Any, str] = {}
        out: list[str | None] = [None]
        for v in range(1, nv):
            k = color_by(graph.vertex_at(v).state())
            if isinstance(k, str) and k.startswith("#"):
                out.append(k)
                continue
            out.append(keys.setdefault(k, _PALETTE[len(keys) % len(_PALETTE)]))
        return out
    if rewards is not None:
        r = np.asarray(rewards, dtype=float)
        if r.shape != (nv,):
            raise GraphError(f"plot: rewards must have one value per vertex ({nv}), got {r.shape}")
        top = float(np.max(np.abs(r))) or 1.0
        light = [int(255 * (1 - abs(x) / top)) for x in r[1:]]
        return [None] + [f"#{c:02x}{c:02x}ff" for c in light]
    return [None] * nv
