"""Drawing small graphs with graphviz (optional dependency)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._errors import GraphError

if TYPE_CHECKING:
    from ._graph import Graph


def plot_graph(graph: Graph, filename: str | None = None, max_vertices: int = 200) -> Any:
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
    dot = graphviz.Digraph()
    for v in graph.vertices():
        label = "start" if v.is_start() else ",".join(map(str, v.state().tolist()))
        shape = "doublecircle" if v.is_absorbing() else "ellipse"
        dot.node(str(v.index), label, shape=shape)
        for e in v.edges():
            if graph.parameterized and e.coefficients.size:
                lab = f"{e.base_weight:g}+{e.coefficients.tolist()}·θ"
            else:
                lab = f"{e.weight:g}"
            dot.edge(str(v.index), str(e.to.index), label=lab)
    if filename is not None:
        dot.render(filename, cleanup=True)
    return dot
