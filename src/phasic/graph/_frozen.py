"""`FrozenGraph`: a compiled snapshot of a graph for fast parameter sweeps
(``Graph.symbolic_elimination()``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, final

import numpy as np

from .._errors import ParameterError
from .._typing import FloatArray, IntArray, Theta
from ._arrays import EdgeArrays, GraphArrays, edge_arrays
from ._graph import _check_theta, resolve_theta
from ._model import PhaseTypeModel

if TYPE_CHECKING:
    from ._graph import Graph

__all__ = ["FrozenGraph"]


@final
class FrozenGraph(PhaseTypeModel):
    """A graph compiled once, evaluated at many θ without rebuilding anything.

    What it caches: the `GraphArrays` of the source graph — transient vertices in SCC order, CSR
    edges with base weights and θ-coefficients, the start distribution's edges — and nothing that
    depends on θ. Each call makes the weights ``base + coef · θ`` on the fly inside the native
    kernels (one sweep in SCC order for moments, one uniformization sweep for all time points of a
    density), so `update_weights` is O(p) and a new θ costs exactly one kernel call. Later changes
    to the source graph do not affect it.

    It has the numerical methods of `Graph` (those of `PhaseTypeModel`: moments, expectation,
    variance, covariance, pdf, cdf, survival, pmf_discrete, sampling, ...), with rewards indexed by
    the source graph's vertices. Methods that build a new graph (`Graph.reward_transform`,
    `Graph.discretize`, `Graph.from_matrices`) belong to `Graph` only.

    Examples
    --------
    >>> from phasic import Graph
    >>> g = Graph(callback=lambda s: [[[3], 1.0, [1.0]]] if not s.size else
    ...           ([[[s[0] - 1], 0.0, [s[0] * (s[0] - 1) / 2]]] if s[0] > 1 else []),
    ...           parameterized=True)
    >>> model = g.symbolic_elimination()
    >>> for theta in (0.5, 1.0, 2.0):
    ...     model.update_weights([theta])
    ...     print(round(float(model.expectation()), 6))
    2.666667
    1.333333
    0.666667
    """

    def __init__(self, graph: Graph) -> None:
        self._ga: GraphArrays = graph.compile()
        self._parameterized = graph.parameterized
        self._p = graph.param_length()
        self._nv = graph.vertices_length()
        self._states = graph.states()
        counts, src, dst, base, coef = edge_arrays(graph)
        # copies: later edits of the graph must not reach the snapshot
        self._edges = (counts.copy(), src.copy(), dst.copy(), base.copy(), coef.copy())
        self._theta: FloatArray | None = (
            None if graph._theta is None else np.array(graph._theta, dtype=np.float64)
        )

    def compile(self) -> GraphArrays:
        return self._ga

    def _edge_arrays(self) -> EdgeArrays:
        return self._edges

    @property
    def parameterized(self) -> bool:
        return self._parameterized

    def param_length(self) -> int:
        return self._p

    def vertices_length(self) -> int:
        return self._nv

    def _describe(self, v: int) -> str:
        return "start" if v == 0 else str(self._states[v].tolist())

    def states(self) -> IntArray:
        """States of all vertices, shape (vertices_length(), state_length), int64."""
        return self._states

    def update_weights(self, theta: Theta) -> None:
        """Set the current θ, shape (p,)."""
        if not self._parameterized:
            raise ParameterError("update_weights: this FrozenGraph is not parameterized")
        th = np.asarray(theta, dtype=np.float64)
        if th.ndim != 1:
            raise ParameterError(f"update_weights: θ must have shape (p,), got {th.shape}")
        self._theta = _check_theta(th[None, :], self._p)[0]

    def _resolve_theta(self, theta: Theta | None) -> FloatArray:
        th = resolve_theta(theta, self._parameterized, self._p, self._theta)
        if self._parameterized:
            self._ga.check_weight_range(th)
        return th

    def __repr__(self) -> str:
        ga = self._ga
        return f"FrozenGraph({ga.n_transient} transient vertices, {ga.n_edges} edges, p={self._p})"
