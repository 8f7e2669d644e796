"""`Vertex` and `Edge` (a graph's elements as the user sees them), and the checks of the states
and weights a user gives them."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import GraphError, ParameterError
from .._typing import FloatArray, IntArray, Theta

if TYPE_CHECKING:
    from ._graph import Graph

__all__ = ["Edge", "Vertex"]


class _Number(float):
    """A float that also answers a call (``edge.weight()``, the earlier phasic's spelling)."""

    __slots__ = ()

    def __call__(self) -> float:
        return float(self)


class _Index(int):
    """An int that also answers a call (``vertex.index()``, the earlier phasic's spelling)."""

    __slots__ = ()

    def __call__(self) -> int:
        return int(self)


class Edge:
    """An edge as the user sees it, and a handle to edit it.

    Attributes
    ----------
    to : Vertex
        Target vertex (``edge.to()`` works too).
    weight : float
        Weight at the graph's current θ (``base_weight`` when no θ has been set; ``edge.weight()``
        works too).
    base_weight : float
        Constant part of the weight.
    coefficients : numpy.ndarray, shape (p,)
        Coefficients multiplying θ (empty for a graph that is not parameterized).
    """

    __slots__ = ("_graph", "_id", "base_weight", "coefficients", "to", "weight")

    def __init__(
        self, graph: Graph, eid: int, to: Vertex, weight: float, base: float, coef: FloatArray
    ) -> None:
        self._graph, self._id = graph, eid
        self.to, self.weight = to, _Number(weight)
        self.base_weight, self.coefficients = float(base), coef

    def update_to(self, vertex: Vertex) -> None:
        """Point the edge at ``vertex`` (of the same graph; not the start)."""
        self._graph._update_edge(self._id, to=vertex)
        self.to = vertex

    def update_weight(self, weight: float, coefficients: Sequence[float] | None = None) -> None:
        """Set the weight: ``weight`` (≥ 0) is the constant part; ``coefficients`` (p,), for a
        parameterized graph, replace those multiplying θ (kept when None)."""
        self._graph._update_edge(self._id, base=weight, coefficients=coefficients)
        self.base_weight = float(weight)
        if coefficients is not None:
            self.coefficients = np.asarray(coefficients, dtype=np.float64)
        th = self._graph._theta
        extra = float(self.coefficients @ th) if th is not None and self.coefficients.size else 0.0
        self.weight = _Number(self.base_weight + extra)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Edge) and other._graph is self._graph and other._id == self._id

    def __hash__(self) -> int:
        return hash((id(self._graph), self._id))

    def __repr__(self) -> str:
        return f"Edge(to={self.to!r}, weight={float(self.weight):g})"


class Vertex:
    """A handle on one vertex of a `Graph` (cheap; compare with ``==``)."""

    __slots__ = ("_graph", "_index")

    def __init__(self, graph: Graph, index: int) -> None:
        self._graph = graph
        self._index = index

    @property
    def index(self) -> int:
        """Position of the vertex in `Graph.vertices()` (0 is the start; ``index()`` works too)."""
        return _Index(self._index)

    def __call__(self) -> Vertex:
        """The vertex itself: ``edge.to()`` (the earlier phasic's spelling) is ``edge.to``."""
        return self

    @property
    def graph(self) -> Graph:
        return self._graph

    def state(self) -> IntArray:
        """The state vector, shape (state_length,), int64 (empty for the start vertex)."""
        return np.array(self._graph._store.row(self._index), dtype=np.int64)

    def is_start(self) -> bool:
        return self._index == 0

    def is_absorbing(self) -> bool:
        """True for a vertex other than the start with no out-edges."""
        return self._index != 0 and self._graph._out_edges(self._index).size == 0

    def add_edge(self, to: Vertex, weight: float) -> None:
        """Add an edge of constant ``weight`` (≥ 0) to ``to``."""
        self._graph._add_edge(self._index, to, weight, None)

    ae = add_edge  # the earlier phasic's short name

    def add_edge_parameterized(
        self, to: Vertex, base_weight: float, coefficients: Sequence[float]
    ) -> None:
        """Add an edge of weight ``base_weight + coefficients · θ``; shape of coefficients (p,)."""
        self._graph._add_edge(self._index, to, base_weight, coefficients)

    def edges(self) -> list[Edge]:
        """The out-edges with their current weights."""
        g = self._graph
        ids = g._out_edges(self._index)
        _, dst, base, coef = g._edges.arrays()
        theta = g._theta
        out = []
        for e in ids.tolist():
            c = coef[e].copy()
            w = base[e] + float(c @ theta) if theta is not None and c.size else base[e]
            out.append(Edge(g, e, Vertex(g, int(dst[e])), float(w), float(base[e]), c))
        return out

    def rate(self, theta: Theta | None = None) -> float:
        """Total out-weight at θ (the exit rate of a continuous model)."""
        g = self._graph
        th = g._resolve_theta(theta) if g._parameterized else None
        if th is not None:
            if th.shape[0] != 1:
                raise ParameterError("Vertex.rate takes one θ of shape (p,), not a batch")
            th = th[0]
        ids = g._out_edges(self._index)
        _, _, base, coef = g._edges.arrays()
        total = float(base[ids].sum())
        if th is not None and th.size:
            total += float((coef[ids] @ th).sum())
        return total

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Vertex)
            and other._graph is self._graph
            and other._index == self._index
        )

    def __hash__(self) -> int:
        return hash((id(self._graph), self._index))

    def __repr__(self) -> str:
        if self._index == 0:
            return "Vertex(start)"
        return f"Vertex({self._index}, state={list(self._graph._store.row(self._index))})"


def _as_state(state: Any, state_length: int | None, where: str) -> tuple[int, ...]:
    """Validate a state and return it as a tuple of Python ints."""
    try:
        arr = np.asarray(state)
    except ValueError as exc:  # ragged nesting
        raise GraphError(f"{where}: state {state!r} must be a flat sequence of integers") from exc
    if arr.ndim != 1:
        raise GraphError(
            f"{where}: a state must be a 1-D sequence of integers, got {state!r} "
            f"with shape {arr.shape}"
        )
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind != "f" or not np.all(np.isfinite(arr) & (arr == np.round(arr))):
            raise GraphError(
                f"{where}: state {state!r} must hold integers (got dtype {arr.dtype}); "
                "use integer lineage counts / labels"
            )
        if np.any(np.abs(arr) >= 2.0**63):
            raise GraphError(f"{where}: state {state!r} holds a value outside the int64 range")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise GraphError(
            f"{where}: state {state!r} holds {int(arr.max())} >= 2**63; states are int64 values"
        )
    if arr.size == 0:
        raise GraphError(f"{where}: empty state; only the start vertex has no state")
    if state_length is not None and arr.size != state_length:
        raise GraphError(
            f"{where}: state {arr.tolist()} has length {arr.size}, but this graph's states have "
            f"length {state_length}"
        )
    return tuple(int(v) for v in arr)


def _as_weight(w: Any, where: str) -> float:
    if isinstance(w, bool) or not isinstance(w, numbers.Real | np.ndarray):
        raise GraphError(f"{where}: weight {w!r} is not a real number")
    if isinstance(w, np.ndarray) and w.size != 1:
        raise GraphError(f"{where}: weight {w!r} must be one number, not an array of {w.size}")
    wf = float(w)
    if not np.isfinite(wf) or wf < 0:
        raise GraphError(f"{where}: weight {w!r} must be finite and >= 0")
    return wf
