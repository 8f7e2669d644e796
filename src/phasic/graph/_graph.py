"""`Graph`, `Vertex` and `Edge`: a phase-type model as a state-space graph.

A graph has one *start* vertex (index 0) that spends no time: its normalized out-weights are the
initial distribution. Vertices without out-edges are absorbing; every other vertex reachable from the
start is transient. An edge weight is ``base + coefficients · θ`` for a parameterized graph and a
constant otherwise.
"""

from __future__ import annotations

import numbers
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from .._errors import GraphError, ParameterError, VertexNotFoundError
from .._typing import FloatArray, IntArray, State, Theta
from ._distributions import GraphDistributions
from ._numerics import GraphNumerics

__all__ = ["Edge", "Graph", "Vertex"]


class Edge(NamedTuple):
    """An edge as the user sees it.

    Attributes
    ----------
    to : Vertex
        Target vertex.
    weight : float
        Weight at the graph's current θ (``base_weight`` when no θ has been set).
    base_weight : float
        Constant part of the weight.
    coefficients : numpy.ndarray, shape (p,)
        Coefficients multiplying θ (empty for a graph that is not parameterized).
    """

    to: Vertex
    weight: float
    base_weight: float
    coefficients: FloatArray


class Vertex:
    """A handle on one vertex of a `Graph` (cheap; compare with ``==``)."""

    __slots__ = ("_graph", "_index")

    def __init__(self, graph: Graph, index: int) -> None:
        self._graph = graph
        self._index = index

    @property
    def index(self) -> int:
        """Position of the vertex in `Graph.vertices()` (0 is the start)."""
        return self._index

    @property
    def graph(self) -> Graph:
        return self._graph

    def state(self) -> IntArray:
        """The state vector, shape (state_length,), int64 (empty for the start vertex)."""
        return np.array(self._graph._states[self._index], dtype=np.int64)

    def is_start(self) -> bool:
        return self._index == 0

    def is_absorbing(self) -> bool:
        """True for a vertex other than the start with no out-edges."""
        return self._index != 0 and not self._graph._to[self._index]

    def add_edge(self, to: Vertex, weight: float) -> None:
        """Add an edge of constant ``weight`` (≥ 0) to ``to``."""
        self._graph._add_edge(self._index, to, weight, None)

    def add_edge_parameterized(
        self, to: Vertex, base_weight: float, coefficients: Sequence[float]
    ) -> None:
        """Add an edge of weight ``base_weight + coefficients · θ``; shape of coefficients (p,)."""
        self._graph._add_edge(self._index, to, base_weight, coefficients)

    def edges(self) -> list[Edge]:
        """The out-edges with their current weights."""
        g = self._graph
        out = []
        theta = g._theta
        for to, base, coef in zip(
            g._to[self._index], g._base[self._index], g._coef[self._index], strict=True
        ):
            c = np.asarray(coef, dtype=np.float64)
            w = base + float(c @ theta) if theta is not None and c.size else base
            out.append(Edge(Vertex(g, to), float(w), float(base), c))
        return out

    def rate(self, theta: Theta | None = None) -> float:
        """Total out-weight at θ (the exit rate of a continuous model)."""
        g = self._graph
        th = g._resolve_theta(theta) if g._parameterized else None
        if th is not None:
            if th.shape[0] != 1:
                raise ParameterError("Vertex.rate takes one θ of shape (p,), not a batch")
            th = th[0]
        total = 0.0
        for base, coef in zip(g._base[self._index], g._coef[self._index], strict=True):
            total += base + (float(np.dot(coef, th)) if th is not None else 0.0)
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
        return f"Vertex({self._index}, state={list(self._graph._states[self._index])})"


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


class Graph(GraphNumerics, GraphDistributions):
    """A phase-type distribution as a state-space graph.

    Parameters
    ----------
    state_length : int, optional
        Length of every state vector; inferred from the first state when omitted.
    callback : callable, optional
        ``callback(state, **kwargs)`` gets a state as an int64 array (empty for the start) and
        returns a list of transitions ``[next_state, weight]``, or with ``parameterized=True``
        ``[next_state, base_weight, coefficients]``. States are explored breadth-first, each once.
    parameterized : bool
        Whether edge weights are ``base + coefficients · θ``.
    max_vertices : int
        A callback exploring more states than this is an error naming the newest state (an
        unbounded state space would otherwise run until memory is exhausted).
    **kwargs
        Passed through to ``callback``.

    Raises
    ------
    GraphError
        A callback result of the wrong shape, a bad state or weight.

    Examples
    --------
    >>> def coalescent(state, n=4):
    ...     if not state.size:
    ...         return [[[n], 1.0, [1.0]]]
    ...     k = state[0]
    ...     return [[[k - 1], 0.0, [k * (k - 1) / 2]]] if k > 1 else []
    >>> g = Graph(callback=coalescent, parameterized=True, n=4)
    >>> g.vertices_length()
    5
    >>> round(float(g.expectation(theta=[1.0])), 12)  # 2 (1 - 1/n)
    1.5
    """

    def __init__(
        self,
        state_length: int | None = None,
        callback: Callable[..., Any] | None = None,
        parameterized: bool = False,
        max_vertices: int = 50_000_000,
        **kwargs: Any,
    ) -> None:
        if (
            isinstance(max_vertices, bool)
            or not isinstance(max_vertices, numbers.Integral)
            or (max_vertices < 1)
        ):
            raise GraphError(f"max_vertices={max_vertices!r} must be a positive integer")
        self._max_vertices = int(max_vertices)
        if state_length is not None and (
            not isinstance(state_length, numbers.Integral) or state_length < 1
        ):
            raise GraphError(f"state_length={state_length!r} must be a positive integer or None")
        if kwargs and callback is None:
            raise GraphError(
                f"keyword arguments {sorted(kwargs)} are passed to a callback, but none was given"
            )
        self._state_length: int | None = None if state_length is None else int(state_length)
        self._parameterized = bool(parameterized)
        self._param_length: int | None = None if parameterized else 0
        self._states: list[tuple[int, ...]] = [()]
        self._index: dict[tuple[int, ...], int] = {}
        self._to: list[list[int]] = [[]]
        self._base: list[list[float]] = [[]]
        self._coef: list[list[FloatArray]] = [[]]
        self._theta: FloatArray | None = None
        self._version = 0
        self._compiled: tuple[int, Any] | None = None
        if callback is not None:
            self._explore(callback, kwargs)

    # ---------------------------------------------------------------- construction
    def _explore(self, callback: Callable[..., Any], kwargs: dict[str, Any]) -> None:
        queue: deque[int] = deque([0])
        while queue:
            v = queue.popleft()
            state = np.array(self._states[v], dtype=np.int64)
            result = callback(state, **kwargs)
            where = f"callback({list(self._states[v]) if v else '[] (start)'})"
            if result is None:
                result = []
            if not isinstance(result, list | tuple):
                raise GraphError(f"{where} returned {type(result).__name__}; return a list")
            for item in result:
                if not isinstance(item, list | tuple) or len(item) not in (2, 3):
                    raise GraphError(
                        f"{where} returned the transition {item!r}; each must be "
                        + (
                            "[next_state, base_weight, coefficients]"
                            if self._parameterized
                            else "[next_state, weight]"
                        )
                    )
                if len(item) == 3 and not self._parameterized:
                    raise GraphError(
                        f"{where} returned [next_state, base_weight, coefficients] = {item!r} "
                        "but the graph is not parameterized; pass parameterized=True"
                    )
                before = len(self._states)
                to = self._find_or_create(item[0], where)
                self._add_edge(v, to, item[1], item[2] if len(item) == 3 else None, where)
                if to >= before:
                    queue.append(to)
                    if len(self._states) > self._max_vertices:
                        raise GraphError(
                            f"{where}: the state space passed max_vertices = "
                            f"{self._max_vertices} vertices (the newest state is "
                            f"{list(self._states[to])}); if the model is finite, pass a larger "
                            "max_vertices to Graph, else bound the states in the callback"
                        )

    def _find_or_create(self, state: Any, where: str) -> int:
        key = _as_state(state, self._state_length, where)
        idx = self._index.get(key)
        if idx is None:
            if self._state_length is None:
                self._state_length = len(key)
            idx = len(self._states)
            self._states.append(key)
            self._index[key] = idx
            self._to.append([])
            self._base.append([])
            self._coef.append([])
            self._version += 1
        return idx

    def _add_edge(
        self,
        frm: int,
        to: Vertex | int,
        base: Any,
        coefficients: Any,
        where: str | None = None,
    ) -> None:
        if isinstance(to, Vertex):
            if to.graph is not self:
                raise GraphError("add_edge: the target vertex belongs to another graph")
            to = to.index
        where = where or f"edge {self._describe(frm)} -> {self._describe(to)}"
        if to == 0:
            raise GraphError(f"{where}: the start vertex cannot be the target of an edge")
        if to == frm and frm == 0:
            raise GraphError(f"{where}: the start vertex cannot have a self-loop")
        w = _as_weight(base, where)
        if coefficients is None:
            coef = np.zeros(self._param_length or 0)
        else:
            if not self._parameterized:
                raise GraphError(
                    f"{where}: coefficients given, but the graph is not parameterized; "
                    "pass parameterized=True to Graph"
                )
            coef = np.asarray(coefficients, dtype=np.float64)
            if coef.ndim == 0:
                coef = coef.reshape(1)
            if coef.ndim != 1 or coef.size == 0:
                raise GraphError(
                    f"{where}: coefficients {coefficients!r} must be a non-empty 1-D sequence"
                )
            if not np.all(np.isfinite(coef)):
                raise GraphError(f"{where}: coefficients {coefficients!r} must be finite")
            if self._param_length is None:
                self._param_length = coef.size
                self._fill_missing_coefficients()
            elif coef.size != self._param_length:
                raise GraphError(
                    f"{where}: coefficients {coef.tolist()} have length {coef.size}, but earlier "
                    f"edges have {self._param_length} (one per parameter)"
                )
        self._to[frm].append(int(to))
        self._base[frm].append(w)
        self._coef[frm].append(coef)
        self._version += 1

    def _fill_missing_coefficients(self) -> None:
        # Edges added with add_edge before the parameter count was known get zero coefficients.
        p = self._param_length or 0
        for lst in self._coef:
            for k, c in enumerate(lst):
                if c.size != p:
                    lst[k] = np.zeros(p)

    def _describe(self, v: int) -> str:
        return "start" if v == 0 else str(list(self._states[v]))

    # ---------------------------------------------------------------- imperative API
    def starting_vertex(self) -> Vertex:
        """The start vertex (index 0): its normalized out-weights are the initial distribution."""
        return Vertex(self, 0)

    def find_or_create_vertex(self, state: State) -> Vertex:
        """The vertex with ``state``, created when missing."""
        return Vertex(self, self._find_or_create(state, "find_or_create_vertex"))

    def find_vertex(self, state: State) -> Vertex:
        """The vertex with ``state``.

        Raises
        ------
        VertexNotFoundError
            When no vertex has this state (see `vertex_exists`).
        """
        key = _as_state(state, self._state_length, "find_vertex")
        idx = self._index.get(key)
        if idx is None:
            raise VertexNotFoundError(
                f"no vertex has state {list(key)}; use find_or_create_vertex to add it"
            )
        return Vertex(self, idx)

    def vertex_exists(self, state: State) -> bool:
        """Whether a vertex (other than the start) has ``state``."""
        return _as_state(state, self._state_length, "vertex_exists") in self._index

    def vertices(self) -> list[Vertex]:
        """All vertices in creation order; index 0 is the start."""
        return [Vertex(self, i) for i in range(len(self._states))]

    def __iter__(self) -> Iterator[Vertex]:
        return iter(self.vertices())

    def vertex_at(self, index: int) -> Vertex:
        """The vertex at position ``index`` of `vertices`."""
        if not 0 <= index < len(self._states):
            raise IndexError(f"vertex index {index} out of range 0..{len(self._states) - 1}")
        return Vertex(self, int(index))

    def vertices_length(self) -> int:
        """Number of vertices, the start and absorbing vertices included."""
        return len(self._states)

    def state_length(self) -> int:
        """Length of the state vectors (0 before the first state is added)."""
        return self._state_length or 0

    def states(self) -> IntArray:
        """States of all vertices, shape (vertices_length(), state_length), int64.

        Row ``i`` is the state of ``vertex_at(i)``; row 0 (the start) is all zeros by convention
        only: the start is never found by state.
        """
        L = self.state_length()
        out = np.zeros((len(self._states), L), dtype=np.int64)
        if len(self._states) > 1:
            out[1:] = np.array(self._states[1:], dtype=np.int64).reshape(-1, L)
        return out

    def param_length(self) -> int:
        """Number of parameters p (0 for a graph that is not parameterized)."""
        return self._param_length or 0

    @property
    def parameterized(self) -> bool:
        return self._parameterized

    def edges_length(self) -> int:
        """Number of edges, those of the start vertex included."""
        return sum(len(t) for t in self._to)

    def is_acyclic(self) -> bool:
        """Whether the graph has no directed cycle (self-loops count as cycles)."""
        ga = self.compile()
        return ga.n_scc == ga.n_transient and not np.any(
            ga.indices == np.repeat(np.arange(ga.n_transient), np.diff(ga.indptr))
        )

    # ---------------------------------------------------------------- parameters
    def update_weights(self, theta: Theta) -> None:
        """Set the current θ, shape (p,), used by every method called without ``theta=``."""
        if not self._parameterized:
            raise ParameterError(
                "update_weights: this graph is not parameterized; create it with "
                "parameterized=True to give edges coefficients"
            )
        th = np.asarray(theta, dtype=np.float64)
        if th.ndim != 1:
            raise ParameterError(f"update_weights: θ must have shape (p,), got {th.shape}")
        self._theta = _check_theta(th[None, :], self.param_length())[0]

    def _resolve_theta(self, theta: Theta | None) -> FloatArray:
        """θ as a (B, p) batch; (1, 0) for a graph that is not parameterized."""
        return resolve_theta(theta, self._parameterized, self.param_length(), self._theta)

    # ---------------------------------------------------------------- compile / persist
    def compile(self) -> Any:
        """Freeze the graph into `GraphArrays` (cached until the graph changes)."""
        from ._arrays import compile_graph

        if self._compiled is None or self._compiled[0] != self._version:
            self._compiled = (self._version, compile_graph(self))
        return self._compiled[1]

    # ---------------------------------------------------------------- JAX bridges
    @staticmethod
    def pmf_from_graph(graph: Graph, discrete: bool = False, **kwargs: Any) -> Callable[..., Any]:
        """``model(theta, times)``: JAX density / pmf of ``graph``; see `phasic.jax.pmf_from_graph`."""
        from ..jax import pmf_from_graph

        return pmf_from_graph(graph, discrete, **kwargs)

    @staticmethod
    def moments_from_graph(
        graph: Graph, nr_moments: int = 2, rewards: Any = None, **kwargs: Any
    ) -> Callable[..., Any]:
        """``fn(theta)``: JAX raw moments of ``graph``; see `phasic.jax.moments_from_graph`."""
        from ..jax import moments_from_graph

        return moments_from_graph(graph, nr_moments, rewards, **kwargs)

    @staticmethod
    def pmf_and_moments_from_graph(
        graph: Graph, nr_moments: int = 2, discrete: bool = False, **kwargs: Any
    ) -> Callable[..., Any]:
        """``model(theta, times) -> (pmf, moments)``; see `phasic.jax.pmf_and_moments_from_graph`."""
        from ..jax import pmf_and_moments_from_graph

        return pmf_and_moments_from_graph(graph, nr_moments, discrete, **kwargs)

    def symbolic_elimination(self) -> Any:
        """Compile the structure once for fast parameter sweeps; returns a `CompiledGraph`."""
        from ._compiled import CompiledGraph

        return CompiledGraph(self)

    def plot(self, filename: str | None = None, max_vertices: int = 200) -> Any:
        """Draw a small graph with graphviz; returns a ``graphviz.Digraph``.

        Raises
        ------
        ImportError
            When the ``graphviz`` Python package is not installed (``pip install graphviz``).
        """
        from ._plot import plot_graph

        return plot_graph(self, filename=filename, max_vertices=max_vertices)

    def __repr__(self) -> str:
        kind = f"parameterized, p={self.param_length()}" if self._parameterized else "constant"
        return f"Graph({self.vertices_length()} vertices, {self.edges_length()} edges, {kind})"


def resolve_theta(
    theta: Theta | None, parameterized: bool, p: int, current: FloatArray | None
) -> FloatArray:
    """θ as a validated (B, p) batch (``current`` when None); (1, 0) when not parameterized."""
    if not parameterized:
        if theta is not None and np.size(theta):
            raise ParameterError(
                "θ given, but this graph is not parameterized; drop theta= or build the "
                "graph with parameterized=True"
            )
        return np.zeros((1, 0))
    if theta is None:
        if current is None:
            raise ParameterError(
                "this graph is parameterized but no θ is set: pass theta=... or call "
                "update_weights(theta) first"
            )
        return current[None, :]
    try:
        th = np.asarray(theta, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"θ = {theta!r} must be numbers of shape (p,) or (B, p)") from exc
    if th.ndim == 1:
        th = th[None, :]
    if th.ndim != 2:
        raise ParameterError(f"θ must have shape (p,) or (B, p), got {th.shape}")
    return _check_theta(th, p)


def _check_theta(th: FloatArray, p: int) -> FloatArray:
    if th.shape[-1] != p:
        raise ParameterError(
            f"θ has {th.shape[-1]} entries per row but the graph has {p} parameters; "
            f"pass shape ({p},) or (B, {p})"
        )
    if not np.all(np.isfinite(th)):
        bad = th[~np.all(np.isfinite(th), axis=-1)][0]
        raise ParameterError(f"θ = {bad.tolist()} holds NaN or infinite values")
    return np.ascontiguousarray(th, dtype=np.float64)
