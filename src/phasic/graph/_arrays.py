"""`GraphArrays`: the frozen, kernel-ready form of a `Graph`, and the compile step that makes it."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order, reverse_cuthill_mckee

from .. import _core
from .._errors import GraphError, ParameterError
from .._typing import ArrayLike, FloatArray, IntArray

if TYPE_CHECKING:
    from ._graph import Graph

__all__ = ["GraphArrays", "compile_graph", "edge_arrays"]

_FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class GraphArrays:
    """Frozen arrays of a compiled graph, consumed by the native kernels.

    Transient vertices are renumbered ``0..n-1`` in topological order of their strongly connected
    components (SCCs): SCC ``s`` holds ``scc_ptr[s]:scc_ptr[s+1]`` and every edge goes to the same
    or a later SCC. Target index ``n`` stands for absorption (any absorbing vertex).

    Attributes
    ----------
    n_vertices : int
        Vertices of the source graph (start and absorbing included).
    vertex_index : int64 array, shape (n,)
        Graph vertex index of each transient vertex (compiled order).
    states : int64 array, shape (n, state_length)
        States of the transient vertices (compiled order).
    indptr : int64 array, shape (n + 1,)
        CSR row pointers of the transient edges.
    indices : int32 array, shape (E,)
        Edge targets in ``[0, n]``.
    base : float64 array, shape (E,)
        Constant part of each edge weight.
    coef : float64 array, shape (E, p)
        Coefficients of θ of each edge weight.
    scc_ptr : int64 array, shape (n_scc + 1,)
        SCC boundaries.
    start_indices : int32 array, shape (S,)
        Targets of the start edges in ``[0, n]``.
    start_base : float64 array, shape (S,)
    start_coef : float64 array, shape (S, p)
    closed : int64 array
        Graph vertex indices of the transient vertices from which absorption is unreachable (a
        closed class): distributions stay finite, moments do not.
    """

    n_vertices: int
    vertex_index: IntArray
    states: IntArray
    indptr: IntArray
    indices: np.ndarray
    base: FloatArray
    coef: FloatArray
    scc_ptr: IntArray
    start_indices: np.ndarray
    start_base: FloatArray
    start_coef: FloatArray
    closed: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def n_transient(self) -> int:
        return int(self.indptr.shape[0] - 1)

    @property
    def n_edges(self) -> int:
        return int(self.indices.shape[0])

    @property
    def n_scc(self) -> int:
        return int(self.scc_ptr.shape[0] - 1)

    @property
    def param_length(self) -> int:
        return int(self.coef.shape[1])

    def __post_init__(self) -> None:
        # Frozen means frozen: the arrays are shared with kernels and caches, never mutated.
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, np.ndarray):
                v.flags.writeable = False

    def validate(self) -> None:
        """Check the structure the kernels rely on (they index by these arrays unchecked).

        Raises
        ------
        GraphError
            Naming the first inconsistency: array kinds and shapes, CSR row pointers, edge and
            start targets in [0, n], SCC boundaries, and edges that run to an earlier SCC.
        """

        def bad(msg: str) -> GraphError:
            return GraphError(f"inconsistent GraphArrays: {msg}")

        ip, ix, sp = self.indptr, self.indices, self.scc_ptr
        if ip.dtype != np.int64 or ix.dtype != np.int32 or sp.dtype != np.int64:
            raise bad("indptr and scc_ptr must be int64 and indices int32")
        if self.start_indices.dtype != np.int32:
            raise bad("start_indices must be int32")
        if ip.ndim != 1 or ip.size < 1 or ip[0] != 0 or np.any(np.diff(ip) < 0):
            raise bad("indptr must start at 0 and never decrease")
        n, E = ip.size - 1, int(ip[-1])
        if ix.shape != (E,) or self.base.shape != (E,) or self.coef.ndim != 2:
            raise bad(
                f"indptr ends at {E} but there are {ix.size} indices and {self.base.size} bases"
            )
        if self.coef.shape[0] != E or self.start_coef.shape != (
            self.start_indices.size,
            self.coef.shape[1],
        ):
            raise bad("coef must be (E, p) and start_coef (S, p)")
        if self.start_base.shape != self.start_indices.shape:
            raise bad("start_base and start_indices differ in length")
        if E and (ix.min() < 0 or ix.max() > n):
            raise bad(f"edge targets must lie in [0, {n}]")
        st = self.start_indices
        if st.size and (st.min() < 0 or st.max() > n):
            raise bad(f"start targets must lie in [0, {n}]")
        if sp.ndim != 1 or sp.size < 1 or sp[0] != 0 or sp[-1] != n or np.any(np.diff(sp) <= 0):
            raise bad(f"scc_ptr must rise strictly from 0 to {n}")
        if self.vertex_index.shape != (n,) or self.states.ndim != 2 or self.states.shape[0] != n:
            raise bad("vertex_index must be (n,) and states (n, L)")
        if E:
            scc = np.repeat(np.arange(sp.size - 1), np.diff(sp))
            inner = ix < n
            src = self.edge_sources()
            if np.any(scc[ix[inner]] < scc[src[inner]]):
                raise bad("an edge runs to an earlier SCC (the topological order is broken)")
        for name in ("base", "coef", "start_base", "start_coef"):
            if not np.all(np.isfinite(getattr(self, name))):
                raise bad(f"{name} holds NaN or infinite values")

    def reward_matrix(
        self, rewards: ArrayLike | None, n_vertices: int, *, nonneg: bool = False
    ) -> tuple[FloatArray, bool]:
        """Rewards given per graph vertex, checked and laid out for the kernels.

        Parameters
        ----------
        rewards : array (n_vertices,) or (n_vertices, R), or None (all ones)
            One reward per vertex in the graph's vertex order (rate units: reward per time unit).
        n_vertices : int
            The graph's vertex count (start and absorbing vertices included).
        nonneg : bool
            Refuse negative rewards.

        Returns
        -------
        r : float64 array (n_transient, R)
            The transient vertices' rewards in compiled order.
        squeeze : bool
            True when ``rewards`` was one vector (or None): callers drop the R axis.
        """
        if rewards is None:
            return np.ones((self.n_transient, 1)), True
        try:
            r = np.asarray(rewards, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ParameterError(
                f"rewards = {rewards!r:.80} must be numbers, one per vertex ({n_vertices},) or "
                f"a matrix ({n_vertices}, R)"
            ) from exc
        squeeze = r.ndim == 1
        if squeeze:
            r = r[:, None]
        if r.ndim != 2 or r.shape[0] != n_vertices:
            raise ParameterError(
                f"rewards has shape {np.shape(rewards)}; expected ({n_vertices},) or "
                f"({n_vertices}, R): one reward per vertex in vertices() order"
            )
        if not np.all(np.isfinite(r)):
            raise ParameterError("rewards must be finite (no NaN or inf)")
        if nonneg and np.any(r < 0):
            i = int(np.argwhere(r < 0)[0, 0])
            at = np.flatnonzero(self.vertex_index == i)
            state = f" (state {self.states[at[0]].tolist()})" if at.size else ""
            raise ParameterError(f"rewards must be >= 0 here; vertex {i}{state} has {r[i]}")
        return np.ascontiguousarray(r[self.vertex_index]), squeeze

    def fingerprint(self) -> str:
        """A hex digest of every array (the same compiled model gives the same digest)."""
        h = hashlib.sha1()
        for f in fields(self):
            a = np.ascontiguousarray(np.asarray(getattr(self, f.name)))
            h.update(f"{f.name}{a.dtype}{a.shape}".encode())
            h.update(a.tobytes())
        return h.hexdigest()[:20]

    def kernel_args(self) -> tuple[np.ndarray, ...]:
        """(indptr, indices, base, coef, scc_ptr): the graph operands of every kernel."""
        return (self.indptr, self.indices, self.base, self.coef, self.scc_ptr)

    @cached_property
    def native(self) -> _core.NativeGraph:
        """The arrays as the native module's graph object (checked once, shared by every call)."""
        return _core.NativeGraph(*self.kernel_args())

    def edge_sources(self) -> IntArray:
        """Source (compiled index) of each edge, shape (E,)."""
        return np.repeat(np.arange(self.n_transient), np.diff(self.indptr))

    def weights(self, theta: FloatArray) -> FloatArray:
        """Edge weights for a θ batch: shape (B, E) for ``theta`` of shape (B, p)."""
        return self.base[None, :] + theta @ self.coef.T

    def exit_rates(self, theta: FloatArray) -> FloatArray:
        """Rate into absorption of each transient vertex, shape (B, n) for θ (B, p)."""
        n = self.n_transient
        to_abs = self.indices == n
        src = self.edge_sources()[to_abs]
        w = self.weights(theta)[:, to_abs]
        out = np.zeros((theta.shape[0], n))
        for b in range(theta.shape[0]):
            out[b] = np.bincount(src, weights=w[b], minlength=n)
        return out

    @cached_property
    def _weight_bound(self) -> tuple[float, FloatArray]:
        """(largest |base weight|, largest |coefficient| of each parameter) over all edges."""
        base = np.concatenate([np.abs(self.base), np.abs(self.start_base), [0.0]])
        coef = np.abs(np.concatenate([self.coef, self.start_coef]))
        return float(base.max()), (coef.max(axis=0) if coef.size else np.zeros(coef.shape[1]))

    def check_weight_range(self, theta: FloatArray) -> None:
        """Refuse θ (B, p) whose edge weights could pass float64's range (sums of rates over a
        vertex, and the kernels' products, would overflow to inf and NaN)."""
        base, colmax = self._weight_bound
        with np.errstate(over="ignore", invalid="ignore"):
            bound = base + np.abs(theta) @ colmax
        bad = ~(bound < 1e290)
        if np.any(bad):
            b = int(np.argmax(bad))
            raise ParameterError(
                f"θ = {theta[b].tolist()} makes edge weights of order {bound[b]:.3g}, past what "
                "float64 sums and products hold (1e290): rescale θ (or the model's time unit)"
            )

    def start_weights(self, theta: FloatArray) -> FloatArray:
        """Start-edge weights, shape (B, S)."""
        return self.start_base[None, :] + theta @ self.start_coef.T

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the arrays to ``path`` (``.npz``)."""
        data: dict[str, Any] = {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}
        data["format_version"] = np.int64(_FORMAT_VERSION)
        np.savez(path, **data)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> GraphArrays:
        """Read arrays written by `save`.

        Raises
        ------
        GraphError
            When the file is not a phasic GraphArrays archive of a known format version.
        """
        with np.load(path, allow_pickle=False) as z:
            names = [f.name for f in fields(cls)]
            missing = [n for n in names if n not in z.files and n != "closed"]
            if "format_version" not in z.files or missing:
                raise GraphError(f"{path} is not a phasic GraphArrays file (missing {missing})")
            if int(z["format_version"]) != _FORMAT_VERSION:
                raise GraphError(
                    f"{path} has format version {int(z['format_version'])}; this phasic reads "
                    f"version {_FORMAT_VERSION}"
                )
            kw = {n: z[n] for n in names if n in z.files}
        kw["n_vertices"] = int(kw["n_vertices"])
        out = cls(**kw)
        out.validate()
        return out


# (out-edge counts (nv,), src (E,), dst (E,), base (E,), coef (E, p))
EdgeArrays = tuple[IntArray, IntArray, IntArray, FloatArray, FloatArray]


def edge_arrays(graph: Graph) -> EdgeArrays:
    """All edges of a graph in vertex order: (out-edge counts (nv,), src, dst, base, coef (E, p))."""
    src, dst, base, coef = graph._edges.arrays()
    counts = graph._out_degree()
    if np.all(src[1:] >= src[:-1]):  # built breadth-first: already in vertex order
        return counts, src, dst, base, coef
    order = graph._out_edges_order()
    return counts, src[order], dst[order], base[order], coef[order]


def _band_order(src: IntArray, dst: IntArray, scc_ptr: IntArray, n: int) -> IntArray | None:
    """Order of the vertices (a permutation of 0..n-1) that keeps the SCCs in place and sorts
    each cyclic one by reverse Cuthill-McKee, so the banded LU of the block has a narrow band
    (a chain of migrations is tridiagonal instead of dense); None when no SCC has over 2 states.
    """
    sizes = np.diff(scc_ptr)
    if not np.any(sizes > 2):
        return None
    scc_of = np.repeat(np.arange(sizes.size), sizes)
    inner = dst < n
    inner[inner] = scc_of[src[inner]] == scc_of[dst[inner]]
    inner &= src != dst
    a = csr_matrix((np.ones(int(inner.sum()), dtype=np.int8), (src[inner], dst[inner])), (n, n))
    rcm = reverse_cuthill_mckee((a + a.T).tocsr(), symmetric_mode=True)
    rank = np.empty(n, dtype=np.int64)
    rank[rcm] = np.arange(n)
    return np.lexsort((rank, scc_of))


def _stuck_vertices(
    src: IntArray,
    dst: IntArray,
    absorbing: np.ndarray,
    t_ids: IntArray,
    degree: IntArray,
    t_loc_dst: IntArray,
    scc_ptr: IntArray,
    new_of_local: IntArray,
) -> IntArray:
    """Vertex ids (graph numbering) that cannot reach absorption: a closed class makes moments
    infinite, so it is recorded and the methods that need absorption refuse it by name.

    Every vertex reaches a bottom SCC (one with no edge to another SCC); when each bottom SCC
    has an edge into absorption, nothing is stuck, which O(E) counts decide. Otherwise a
    reverse breadth-first search from the absorbing vertices names the stuck ones.
    """
    n = t_ids.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    sizes = np.diff(scc_ptr)
    scc_of_local = np.repeat(np.arange(sizes.size), sizes)[new_of_local]
    from_scc = np.repeat(scc_of_local, degree)
    inner = t_loc_dst >= 0
    to_scc = scc_of_local[np.where(inner, t_loc_dst, 0)]
    leaves = np.bincount(from_scc[inner & (to_scc != from_scc)], minlength=sizes.size) > 0
    exits = np.bincount(from_scc[~inner], minlength=sizes.size) > 0
    if np.all(exits | leaves):
        return np.zeros(0, dtype=np.int64)
    nv = absorbing.size
    abs_ids = np.flatnonzero(absorbing)
    sink = nv
    rows = np.concatenate([dst, np.full(abs_ids.size, sink)])
    cols = np.concatenate([src, abs_ids])
    rev = csr_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(nv + 1, nv + 1))
    reach_abs = np.zeros(nv + 1, dtype=bool)
    reach_abs[breadth_first_order(rev, sink, directed=True, return_predecessors=False)] = True
    return t_ids[~reach_abs[t_ids]]


def compile_graph(graph: Graph) -> GraphArrays:
    """Build `GraphArrays` from a `Graph`: classify vertices, order SCCs, renumber edges."""
    nv = graph.vertices_length()
    counts, src, dst, base, coef = edge_arrays(graph)
    if counts[0] == 0:
        raise GraphError(
            "the start vertex has no out-edges (empty start): add an edge from "
            "starting_vertex() or return transitions from the callback for the empty state"
        )

    # Every vertex but the start and the absorbing ones is transient, reachable or not, so that
    # matrices and per-vertex results cover the whole graph.
    absorbing = counts == 0
    absorbing[0] = False
    transient = ~absorbing
    transient[0] = False
    t_ids = np.flatnonzero(transient)
    n = t_ids.size

    # Local numbering of transient vertices; absorbing targets -> -1 for the SCC pass.
    local = np.full(nv, -1, dtype=np.int64)
    local[t_ids] = np.arange(n)
    # Sources with out-edges are never absorbing: the transient edges are all but the start's,
    # which come first (edge_arrays groups edges by source), so a slice, not a copy.
    tmask = slice(int(counts[0]), None)
    t_dst = dst[tmask]
    t_base, t_coef = base[tmask], coef[tmask]
    t_loc_dst = local[t_dst]
    indptr0 = np.concatenate([[0], np.cumsum(counts[t_ids])]).astype(np.int64)
    perm = np.empty(n, dtype=np.int64)
    scc_ptr = np.asarray(
        _core.scc_order(indptr0, np.ascontiguousarray(t_loc_dst, dtype=np.int32), perm),
        dtype=np.int64,
    )
    new_of_local = np.empty(n, dtype=np.int64)
    new_of_local[perm] = np.arange(n)
    degree = np.diff(indptr0)
    stuck = _stuck_vertices(src, dst, absorbing, t_ids, degree, t_loc_dst, scc_ptr, new_of_local)

    # Transient edges come in runs per local source (t_src = repeat(arange(n), degree)), so
    # sources map by np.repeat and the new edge order is the runs in the new vertex order: O(E)
    # copies instead of gathers and an argsort (a third of IM 7 + 7's compile).
    new_of_local_dst = np.append(new_of_local, n)  # absorbing targets (-1) -> n
    new_dst = new_of_local_dst[t_loc_dst]
    within = _band_order(np.repeat(new_of_local, degree), new_dst, scc_ptr, n)
    if within is not None:
        perm = perm[within]
        new_of_local[perm] = np.arange(n)
        new_of_local_dst[:n] = new_of_local
        new_dst = new_of_local_dst[t_loc_dst]
    new_degree = degree[perm]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(new_degree, out=indptr[1:])
    order = np.arange(indptr[-1], dtype=np.int64) + np.repeat(
        indptr0[perm] - indptr[:-1], new_degree
    )

    smask = slice(0, int(counts[0]))
    s_dst = dst[smask]
    s_idx = np.full(s_dst.size, n, dtype=np.int64)  # start edges into absorption keep index n
    s_in = transient[s_dst]
    s_idx[s_in] = new_of_local[local[s_dst[s_in]]]
    vertex_index = t_ids[perm]
    L = graph.state_length()
    states = graph._store.take(vertex_index, L) if n else np.zeros((0, L), dtype=np.int64)
    return GraphArrays(
        n_vertices=nv,
        vertex_index=vertex_index.astype(np.int64),
        states=np.ascontiguousarray(states),
        indptr=indptr,
        indices=np.take(new_dst, order).astype(np.int32),
        base=np.take(t_base, order),
        coef=np.take(t_coef, order, axis=0),  # row gather: faster than fancy indexing
        scc_ptr=scc_ptr,
        start_indices=np.ascontiguousarray(s_idx, dtype=np.int32),
        start_base=base[smask].copy(),  # copies: the graph's arrays stay editable
        start_coef=coef[smask].copy(),
        closed=stuck.astype(np.int64),
    )
