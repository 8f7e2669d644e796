"""Editing a built `Graph`: copies, vertices outside the state lookup, edge targets and weights,
normalization, and the earlier phasic's names for these (a mixin of `Graph`)."""

from __future__ import annotations

import copy as _copy
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import GraphError, ParameterError
from .._typing import FloatArray, State, Theta
from ._store import NativeStates
from ._vertex import Vertex, _as_state, _as_weight

if TYPE_CHECKING:
    from ._frozen import FrozenGraph
    from ._graph import Graph

__all__ = ["Editing"]


class Editing:
    """Methods of `Graph` that change a graph after it is built."""

    def copy(self: Graph) -> Graph:  # type: ignore[misc]
        """An independent copy (states, edges, parameters and the current θ)."""
        new = _copy.copy(self)
        new._store = self._store.copied()
        new._edges = self._edges.copied()
        new._theta = None if self._theta is None else self._theta.copy()
        new._compiled = None
        return new

    clone = copy  # the earlier phasic's name

    def create_vertex(self: Graph, state: State) -> Vertex:  # type: ignore[misc]
        """A new vertex with ``state`` that the state lookup never finds (`find_vertex` and the
        builders keep finding the vertex that was there, or make their own): auxiliary vertices
        such as a second copy of a state in an augmented model."""
        key = _as_state(state, self._state_length, "create_vertex")
        if self._state_length is None:
            self._state_length = len(key)
        store = self._store
        if isinstance(store, NativeStates):
            idx = int(store.table.append(np.asarray([key], dtype=np.int64))[0]) + 1
        else:
            idx = len(store.rows)
            store.rows.append(key)
        self._version += 1
        return Vertex(self, idx)

    def normalize(self: Graph) -> FloatArray:  # type: ignore[misc]
        """Rescale the out-weights of every vertex to sum to 1 (rates become the jump
        probabilities of the embedded chain).

        Returns
        -------
        float64 array, shape (vertices_length(),)
            Each vertex's total out-weight before (0 for absorbing vertices): the exit rates
            that turn the jump chain back into the continuous model.

        Raises
        ------
        ParameterError
            For a parameterized graph, whose totals depend on θ.
        """
        if self._parameterized:
            raise ParameterError(
                "normalize: the out-weights of a parameterized graph depend on θ; normalize "
                "the constant graph at one θ instead (Graph.from_matrices(*g.as_matrices(θ)[:2]))"
            )
        src, _, base, _ = self._edges.arrays()
        totals = np.bincount(src, weights=base, minlength=self.vertices_length()).astype(float)
        scale = np.where(totals > 0, totals, 1.0)
        base /= scale[src]
        self._edges.changed()
        self._version += 1
        return totals

    def _update_edge(  # type: ignore[misc]
        self: Graph,
        eid: int,
        to: Vertex | None = None,
        base: Any = None,
        coefficients: Any = None,
    ) -> None:
        src, dst, b, c = self._edges.arrays()
        where = f"edge {self._describe(int(src[eid]))} -> {self._describe(int(dst[eid]))}"
        if to is not None:
            if to.graph is not self:
                raise GraphError(f"{where}: update_to a vertex of another graph")
            if to.index == 0:
                raise GraphError(f"{where}: the start vertex cannot be the target of an edge")
            dst[eid] = to.index
        if base is not None:
            b[eid] = _as_weight(base, where)
        if coefficients is not None:
            if not self._parameterized:
                raise GraphError(f"{where}: coefficients given, but the graph is not parameterized")
            coef = np.asarray(coefficients, dtype=np.float64).reshape(-1)
            if coef.size != c.shape[1] or not np.all(np.isfinite(coef)):
                raise GraphError(
                    f"{where}: coefficients {coef.tolist()} must be {c.shape[1]} finite numbers"
                )
            c[eid] = coef
        self._edges.changed()
        self._version += 1

    # ------------------------------------------------------------- the earlier phasic's names
    def focv(self: Graph, state: State) -> Vertex:  # type: ignore[misc]
        """`find_or_create_vertex` (the earlier phasic's short name)."""
        return self.find_or_create_vertex(state)

    def update_parameterized_weights(self: Graph, theta: Theta) -> None:  # type: ignore[misc]
        """`update_weights` (the earlier phasic's name)."""
        self.update_weights(theta)

    def eliminate_to_dag(self: Graph) -> FrozenGraph:  # type: ignore[misc]
        """`symbolic_elimination` (the earlier phasic's name): a compiled snapshot for sweeps."""
        return self.symbolic_elimination()
