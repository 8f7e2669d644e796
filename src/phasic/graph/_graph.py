"""`Graph`, `Vertex` and `Edge`: a phase-type model as a state-space graph.

A graph has one *start* vertex (index 0) that spends no time: its normalized out-weights are the
initial distribution. Vertices without out-edges are absorbing; every other vertex reachable from the
start is transient. An edge weight is ``base + coefficients · θ`` for a parameterized graph and a
constant otherwise.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, final

import numpy as np

from .._errors import GraphError, ParameterError, VertexNotFoundError
from .._typing import ArrayLike, FloatArray, IntArray, State, Theta
from . import _transform
from ._arrays import EdgeArrays, GraphArrays, compile_graph, edge_arrays
from ._build import explore_callback, explore_vectorized
from ._edit import Editing
from ._model import PhaseTypeModel
from ._store import DictStates, EdgeLog, NativeStates
from ._vertex import Edge, Vertex, _as_state, _as_weight

if TYPE_CHECKING:
    from ._frozen import FrozenGraph

__all__ = ["Edge", "Graph", "Vertex"]


@final
class Graph(Editing, PhaseTypeModel):
    """A phase-type distribution as a state-space graph.

    Parameters
    ----------
    state_length : int, optional
        Length of every state vector; inferred from the first state when omitted. A callable
        here is taken as ``callback`` (``Graph(rules)``).
    callback : callable, optional
        ``callback(state, **kwargs)`` gets a state as an int64 array (empty for the start) and
        returns a list of transitions ``[next_state, weight]``, or with ``parameterized=True``
        ``[next_state, base_weight, coefficients]`` (``[]`` coefficients: a constant weight).
        States are explored breadth-first, each once.

        With ``vectorized=True``, ``callback(states, **kwargs)`` gets a whole frontier, an int64
        array (B, L), and returns a list of transition kinds, each ``[next_states (B, L), base
        (B,), coefficients (B, p)]`` or ``[next_states (B, L), weight (B,)]`` aligned row by
        row with the input; a zero weight (base and coefficients all 0) means no transition.
        The start's transitions come from a first call with ``states`` of shape (1, 0).
        States are found by a native hash of the rows: build large models this way.
    parameterized : bool
        Whether edge weights are ``base + coefficients · θ``.
    max_vertices : int
        A callback exploring more states than this is an error naming the newest state (an
        unbounded state space would otherwise run until memory is exhausted).
    **kwargs
        Passed through to ``callback``.
    vectorized : bool
        Whether ``callback`` takes a frontier of states at once (see ``callback``).

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
        vectorized: bool = False,
        **kwargs: Any,
    ) -> None:
        if (
            isinstance(max_vertices, bool)
            or not isinstance(max_vertices, numbers.Integral)
            or (max_vertices < 1)
        ):
            raise GraphError(f"max_vertices={max_vertices!r} must be a positive integer")
        self._max_vertices: int = int(max_vertices)
        if callable(state_length) and callback is None:  # Graph(rules): the rules come first
            state_length, callback = None, state_length
        if state_length is not None and (
            not isinstance(state_length, numbers.Integral) or state_length < 1
        ):
            raise GraphError(f"state_length={state_length!r} must be a positive integer or None")
        if kwargs and callback is None:
            raise GraphError(
                f"keyword arguments {sorted(kwargs)} are passed to a callback, but none was given"
            )
        self._state_length: int | None = None if state_length is None else int(state_length)
        self._parameterized: bool = bool(parameterized)
        self._param_length: int | None = None if parameterized else 0
        self._store: DictStates | NativeStates = DictStates()
        self._edges: EdgeLog = EdgeLog()
        self._theta: FloatArray | None = None
        self._version: int = 0
        self._compiled: tuple[int, Any] | None = None
        if callback is not None and vectorized:
            explore_vectorized(self, callback, kwargs)
        elif callback is not None:
            explore_callback(self, callback, kwargs)

    # ---------------------------------------------------------------- construction
    def _find_or_create(self, state: Any, where: str) -> int:
        key = _as_state(state, self._state_length, where)
        idx = self._store.get(key)
        if idx is None:
            if self._state_length is None:
                self._state_length = len(key)
            idx = self._store.add(key)
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
        w = _as_weight(base, where)
        coef = self._coefficients(coefficients, where)
        e = self._edges
        e.src.append(int(frm))
        e.dst.append(int(to))
        e.base.append(w)
        e.coef.extend(coef.tolist())
        e.changed()
        self._version += 1

    def _coefficients(self, coefficients: Any, where: str) -> FloatArray:
        """One edge's coefficients of θ, shape (p,): zeros for None or ``[]``, else checked
        (numbers, 1-D, finite, one per parameter); the first non-empty ones fix p."""
        p = self._param_length or 0
        if coefficients is None:
            return np.zeros(p)
        if not self._parameterized:
            raise GraphError(
                f"{where}: coefficients given, but the graph is not parameterized; "
                "pass parameterized=True to Graph"
            )
        bad = GraphError(
            f"{where}: coefficients {coefficients!r} must be a 1-D sequence of numbers"
        )
        try:
            coef = np.asarray(coefficients, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise bad from exc
        if coef.ndim > 1:
            raise bad
        coef = coef.reshape(-1)
        if coef.size == 0:  # [] as None: a constant weight
            return np.zeros(p)
        if not np.all(np.isfinite(coef)):
            raise GraphError(f"{where}: coefficients {coefficients!r} must be finite")
        if self._param_length is None:
            self._param_length = coef.size
            self._edges.set_param_length(coef.size)
        elif coef.size != self._param_length:
            raise GraphError(
                f"{where}: coefficients {coef.tolist()} have length {coef.size}, but earlier "
                f"edges have {self._param_length} (one per parameter)"
            )
        return coef

    def _out_edges(self, v: int) -> IntArray:
        """Edge ids (into ``self._edges.arrays()``) of the out-edges of vertex ``v``."""
        order, ptr = self._edges.by_source(len(self._store), self._version)
        return order[ptr[v] : ptr[v + 1]]

    def _out_edges_order(self) -> IntArray:
        """Edge ids grouped by source vertex (insertion order within a vertex)."""
        return self._edges.by_source(len(self._store), self._version)[0]

    def _out_degree(self) -> IntArray:
        """Out-edge count of every vertex, shape (vertices_length(),)."""
        return np.diff(self._edges.by_source(len(self._store), self._version)[1])

    def _describe(self, v: int) -> str:
        return "start" if v == 0 else str(list(self._store.row(v)))

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
        idx = self._store.get(key)
        if idx is None:
            raise VertexNotFoundError(
                f"no vertex has state {list(key)}; use find_or_create_vertex to add it"
            )
        return Vertex(self, idx)

    def vertex_exists(self, state: State) -> bool:
        """Whether a vertex (other than the start) has ``state``."""
        return self._store.get(_as_state(state, self._state_length, "vertex_exists")) is not None

    def vertices(self) -> list[Vertex]:
        """All vertices in creation order; index 0 is the start."""
        return [Vertex(self, i) for i in range(len(self._store))]

    def __iter__(self) -> Iterator[Vertex]:
        return iter(self.vertices())

    def vertex_at(self, index: int) -> Vertex:
        """The vertex at position ``index`` of `vertices`."""
        if not 0 <= index < len(self._store):
            raise IndexError(f"vertex index {index} out of range 0..{len(self._store) - 1}")
        return Vertex(self, int(index))

    def vertices_length(self) -> int:
        """Number of vertices, the start and absorbing vertices included."""
        return len(self._store)

    def state_length(self) -> int:
        """Length of the state vectors (0 before the first state is added)."""
        return self._state_length or 0

    def states(self) -> IntArray:
        """States of all vertices, shape (vertices_length(), state_length), int64.

        Row ``i`` is the state of ``vertex_at(i)``; row 0 (the start) is all zeros by convention
        only: the start is never found by state.
        """
        return self._store.array(self.state_length())

    def param_length(self) -> int:
        """Number of parameters p (0 for a graph that is not parameterized)."""
        return self._param_length or 0

    @property
    def parameterized(self) -> bool:
        return self._parameterized

    def edges_length(self) -> int:
        """Number of edges, those of the start vertex included."""
        return len(self._edges)

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
        th = resolve_theta(theta, self._parameterized, self.param_length(), self._theta)
        if self._parameterized:
            self.compile().check_weight_range(th)
        return th

    # ---------------------------------------------------------------- compile / persist
    def _edge_arrays(self) -> EdgeArrays:
        return edge_arrays(self)

    def compile(self) -> GraphArrays:
        """Freeze the graph into `GraphArrays` (cached until the graph changes)."""

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
        """``fn(theta)`` (``fn(theta, starts)`` with ``epochs=E``): JAX raw moments of ``graph``;
        see `phasic.jax.moments_from_graph`."""
        from ..jax import moments_from_graph

        return moments_from_graph(graph, nr_moments, rewards, **kwargs)

    @staticmethod
    def counts_from_graph(
        graph: Graph, rewards: Any = None, max_count: int = 10, **kwargs: Any
    ) -> Callable[..., Any]:
        """``fn(theta, rate)``: JAX distribution of event counts at ``rate × reward`` during the
        absorption time (segregating sites, SFS counts); see `phasic.jax.counts_from_graph`."""
        from ..jax import counts_from_graph

        return counts_from_graph(graph, rewards, max_count, **kwargs)

    @staticmethod
    def pmf_and_moments_from_graph(
        graph: Graph, nr_moments: int = 2, discrete: bool = False, **kwargs: Any
    ) -> Callable[..., Any]:
        """``model(theta, times) -> (pmf, moments)``; see `phasic.jax.pmf_and_moments_from_graph`."""
        from ..jax import pmf_and_moments_from_graph

        return pmf_and_moments_from_graph(graph, nr_moments, discrete, **kwargs)

    # ------------------------------------------------------------------ new graphs from this one
    @classmethod
    def from_matrices(
        cls, alpha: ArrayLike, S: ArrayLike, states: ArrayLike | None = None, discrete: bool = False
    ) -> Graph:
        """A graph from an initial vector (shape (n,), sum <= 1) and a sub-intensity matrix (n, n).

        A defect ``1 - sum(alpha)`` becomes a start edge to the absorbing vertex. States default
        to ``[i]`` for row i and ``[n]`` for the absorbing vertex.
        """
        return _transform.from_matrices(cls, alpha, S, states, discrete)  # type: ignore[arg-type]

    def reward_transform(self, rewards: ArrayLike, theta: Theta | None = None) -> Graph:
        """The graph whose absorption time is the accumulated reward (continuous, rewards >= 0).

        Vertices with zero reward are bypassed. The result is a constant graph at the given θ.
        """
        ga, th, r, batched, sq = self._prepare(theta, rewards, nonneg=True)
        if batched or not sq:
            raise ParameterError("reward_transform takes one θ and one reward vector")
        return _transform.reward_transform(self, ga, th, r[:, 0], discrete=False)

    def reward_transform_discrete(self, rewards: ArrayLike, theta: Theta | None = None) -> Graph:
        """The discrete graph whose number of jumps is the accumulated integer reward."""
        ga, th, r, batched, sq = self._prepare(theta, rewards, nonneg=True)
        if batched or not sq:
            raise ParameterError("reward_transform_discrete takes one θ and one reward vector")
        if not np.all(r == np.round(r)):
            raise ParameterError("reward_transform_discrete: rewards must be integers")
        self._check_discrete(ga, th)
        return _transform.reward_transform(self, ga, th, r[:, 0], discrete=True)

    def discretize(
        self, reward_rates: ArrayLike, theta: Theta | None = None
    ) -> tuple[Graph, FloatArray]:
        """Discrete model counting events that occur at ``reward_rates`` per unit time.

        Parameters
        ----------
        reward_rates : (vertices_length(),) or (vertices_length(), R), >= 0
            Event rate of each type in each vertex (e.g. mutation rate × lineages of a class).

        Returns
        -------
        graph : Graph
            Discrete model; the accumulated reward of a column counts events of that type.
        rewards : (graph.vertices_length(), R) float array
            Its reward matrix (squeezed to a vector for 1-D ``reward_rates``). E.g. the discrete
            site frequency spectrum: ``g2.reward_transform_discrete(rewards[:, i]).pmf_discrete(k)``.

        Notes
        -----
        The discrete graph is built at one θ: its probabilities are ratios of rates,
        w / (q + Σ rates), which edge weights affine in θ cannot hold. For counts as a function
        of θ and the event rate (differentiable, with epochs), use `Graph.counts_from_graph`.
        """
        ga, th, r, batched, sq = self._prepare(theta, reward_rates, nonneg=True)
        if batched:
            raise ParameterError("discretize takes one θ of shape (p,), not a batch")
        g, rew = _transform.discretize(self, ga, th, r)
        return g, (rew[:, 0] if sq else rew)

    def symbolic_elimination(self) -> FrozenGraph:
        """A `FrozenGraph`: this graph compiled once, for fast parameter sweeps."""
        from ._frozen import FrozenGraph

        return FrozenGraph(self)

    def plot(
        self,
        filename: str | None = None,
        max_vertices: int = 200,
        *,
        subgraphfun: Callable[[IntArray], Any] | None = None,
        color_by: Callable[[IntArray], Any] | None = None,
        rewards: ArrayLike | None = None,
        rankdir: str = "LR",
        format: str = "pdf",
        **graph_attr: str,
    ) -> Any:
        """Draw a small graph with graphviz; returns the ``graphviz.Digraph`` (a notebook shows
        it; ``filename`` also renders it to a file in ``format``).

        Parameters
        ----------
        subgraphfun : ``f(state) -> label``: vertices with the same label are drawn in one box
        color_by : ``f(state) -> category`` (or a ``"#rrggbb"`` colour): fill colours
        rewards : (vertices_length(),): fill from white (0) to blue (largest |reward|)
        rankdir : layout direction, ``"LR"``, ``"TB"``, ``"RL"`` or ``"BT"``
        **graph_attr : further graphviz graph attributes (``size="8,5"``, ``nodesep="0.3"``)

        Raises
        ------
        ImportError
            When the ``graphviz`` Python package is not installed (``pip install graphviz``).
        """
        from ._plot import plot_graph

        return plot_graph(
            self,
            filename,
            max_vertices,
            subgraphfun=subgraphfun,
            color_by=color_by,
            rewards=rewards,
            rankdir=rankdir,
            format=format,
            **graph_attr,
        )

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
