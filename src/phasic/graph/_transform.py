"""Matrix import/export and reward transformation of graphs."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .._errors import GraphError, ParameterError
from .._typing import FloatArray, IntArray
from ._arrays import GraphArrays
from ._native import initial_distribution

if TYPE_CHECKING:
    from ._graph import Graph

__all__ = [
    "MatrixRepresentation",
    "as_matrices",
    "from_matrices",
    "reward_transform",
    "with_event_rate",
]


class MatrixRepresentation(NamedTuple):
    """A phase-type distribution as matrices.

    Attributes
    ----------
    alpha : shape (n,)
        Initial distribution over transient states (sums to < 1 with a defect).
    S : shape (n, n)
        Sub-intensity matrix (continuous) or sub-transition matrix (discrete).
    states : int64, shape (n, state_length)
        States in the order of the rows: transient vertices by increasing vertex index.
    vertex_index : int64, shape (n,)
        Graph vertex index of each row.
    """

    alpha: FloatArray
    S: FloatArray
    states: IntArray
    vertex_index: IntArray

    # The earlier phasic's names for the same fields.
    @property
    def ipv(self) -> FloatArray:
        """`alpha` (initial probability vector)."""
        return self.alpha

    @property
    def sim(self) -> FloatArray:
        """`S` (sub-intensity matrix)."""
        return self.S

    @property
    def indices(self) -> IntArray:
        """`vertex_index` (0-based graph vertex indices of the rows)."""
        return self.vertex_index


def _jump_matrix(
    ga: GraphArrays, theta: FloatArray, discrete: bool
) -> tuple[sp.csr_matrix, FloatArray]:
    """Sparse matrix of weights W (n, n+1; last column = absorption) and total out-weights d."""
    n = ga.n_transient
    w = ga.weights(theta)[0]
    # copy=True: sum_duplicates sorts in place and must not touch the frozen GraphArrays
    W = sp.csr_matrix((w, ga.indices, ga.indptr), shape=(n, n + 1), copy=True)
    W.sum_duplicates()
    d = np.asarray(W.sum(axis=1)).ravel()
    if discrete:
        if np.any(d > 1 + 1e-12):
            i = int(np.argmax(d))
            raise GraphError(
                f"discrete model: out-weights of state {ga.states[i].tolist()} sum to {d[i]:.6g} "
                "> 1; they are probabilities (the remainder is a self-loop)"
            )
    return W, d


def as_matrices(ga: GraphArrays, theta: FloatArray, discrete: bool = False) -> MatrixRepresentation:
    """Dense (alpha, S) for one θ, rows in increasing vertex index."""
    n = ga.n_transient
    W, d = _jump_matrix(ga, theta, discrete)
    dense = W[:, :n].toarray()
    alpha, _ = initial_distribution(ga, theta)
    if discrete:
        S = dense + np.diag(1.0 - d)
    else:
        S = dense - np.diag(d)
    order = np.argsort(ga.vertex_index)
    return MatrixRepresentation(
        alpha[0][order], S[np.ix_(order, order)], ga.states[order], ga.vertex_index[order]
    )


def from_matrices(
    graph_cls: type[Graph],
    alpha: FloatArray,
    S: FloatArray,
    states: IntArray | None,
    discrete: bool,
) -> Graph:
    alpha = np.asarray(alpha, dtype=np.float64)
    S = np.asarray(S, dtype=np.float64)
    n = alpha.shape[0] if alpha.ndim == 1 else -1
    if alpha.ndim != 1 or S.shape != (n, n) or n == 0:
        raise GraphError(
            f"from_matrices: alpha must have shape (n,) and S shape (n, n); got {alpha.shape} "
            f"and {S.shape}"
        )
    if not (np.all(np.isfinite(alpha)) and np.all(np.isfinite(S))):
        raise GraphError("from_matrices: alpha and S must be finite")
    if np.any(alpha < 0) or alpha.sum() > 1 + 1e-12 or alpha.sum() <= 0:
        raise GraphError(
            f"from_matrices: alpha must be >= 0 with 0 < sum(alpha) <= 1, got sum {alpha.sum():.6g}"
        )
    off = S - np.diag(np.diag(S))
    if np.any(off < 0):
        i, j = np.argwhere(off < 0)[0]
        raise GraphError(f"from_matrices: S[{i}, {j}] = {S[i, j]:.6g} must be >= 0 (off-diagonal)")
    if discrete:
        if np.any(S < 0) or np.any(S.sum(axis=1) > 1 + 1e-12):
            raise GraphError("from_matrices: a sub-transition matrix needs entries >= 0, rows <= 1")
        exit_ = 1.0 - S.sum(axis=1)
    else:
        exit_ = -S.sum(axis=1)
        never_left = np.flatnonzero(~np.any(S != 0, axis=1))
        if never_left.size:
            raise GraphError(
                f"from_matrices: row {int(never_left[0])} of S is zero, so that state is never left "
                "and the absorption time is infinite; give it an exit rate (a negative diagonal)"
            )
        if np.any(exit_ < -1e-12 * np.abs(np.diag(S)).max()):
            i = int(np.argmin(exit_))
            raise GraphError(f"from_matrices: row {i} of S sums to {-exit_[i]:.6g} > 0")
        exit_ = np.maximum(exit_, 0.0)
    if states is None:
        st = np.arange(n + 1, dtype=np.int64)[:, None]
    else:
        st = np.asarray(states)
        if st.ndim == 1:
            st = st[:, None]
        if st.shape[0] != n:
            raise GraphError(f"from_matrices: states has {st.shape[0]} rows, S has {n}")
        if np.unique(st, axis=0).shape[0] != n:
            _, first, counts = np.unique(st, axis=0, return_index=True, return_counts=True)
            dup = st[first[np.argmax(counts > 1)]]
            raise GraphError(
                f"from_matrices: state {dup.tolist()} is given for more than one row of S; "
                "states must be distinct (they name the vertices)"
            )
        st = np.vstack([st, np.full((1, st.shape[1]), st.max() + 1)]).astype(np.int64)
    g = graph_cls()
    vs = [g.find_or_create_vertex(s) for s in st]
    start = g.starting_vertex()
    for i in np.flatnonzero(alpha > 0):
        start.add_edge(vs[i], float(alpha[i]))
    if alpha.sum() < 1 - 1e-15:
        start.add_edge(vs[n], float(1.0 - alpha.sum()))
    for i in range(n):
        for j in np.flatnonzero(off[i] > 0) if not discrete else np.flatnonzero(S[i] > 0):
            if discrete or j != i:
                vs[i].add_edge(vs[j], float(S[i, j]))
        if exit_[i] > 0:
            vs[i].add_edge(vs[n], float(exit_[i]))
    return g


def reward_transform(
    graph: Graph,
    ga: GraphArrays,
    theta: FloatArray,
    rewards: FloatArray,
    discrete: bool,
) -> Graph:
    """Graph of the accumulated reward (zero-reward vertices bypassed).

    Continuous: vertex p with reward r_p > 0 keeps its jump probabilities (after bypassing
    zero-reward vertices) and gets exit rate d_p / r_p. Discrete: integer rewards; a vertex of reward
    k becomes a chain of k vertices, so one step of the new chain is one unit of reward.
    """
    n = ga.n_transient
    W, d = _jump_matrix(ga, theta, discrete)
    if discrete:
        # P including the remainder self-loop; rows sum to 1 over n+1 columns.
        Q = W.tolil()
        Q.setdiag(Q.diagonal()[:n] + (1.0 - d)) if n else None
        Q = Q.tocsr()
    else:
        Q = sp.diags(1.0 / d) @ W
    Q = sp.csr_matrix(Q)
    alpha, total = initial_distribution(ga, theta)
    a = np.append(alpha[0], max(0.0, 1.0 - alpha[0].sum()))

    pos = rewards > 0
    P_idx, Z_idx = np.flatnonzero(pos), np.flatnonzero(~pos)
    if P_idx.size == 0:
        raise ParameterError("reward_transform: all rewards are zero; the reward is identically 0")
    cols = np.append(P_idx, n)  # positive vertices + absorption
    Qp = Q[P_idx][:, cols].toarray()
    ap = a[cols].copy()
    if Z_idx.size:
        Izz = sp.identity(Z_idx.size, format="csc") - Q[Z_idx][:, Z_idx].tocsc()
        QzP = Q[Z_idx][:, cols].toarray()
        X = spla.spsolve(Izz, QzP)  # (I - Q_ZZ)^{-1} Q_Z,(P+abs)
        X = np.asarray(X).reshape(Z_idx.size, cols.size)
        Qp = Qp + Q[P_idx][:, Z_idx].toarray() @ X
        ap = ap + a[Z_idx] @ X

    cls = type(graph)
    g = cls()
    L = ga.states.shape[1]
    abs_state = _absorbing_state(graph)
    start = g.starting_vertex()
    if not discrete:
        vs = [g.find_or_create_vertex(ga.states[i]) for i in P_idx]
        absv = g.find_or_create_vertex(abs_state)
        rate = d[P_idx] / rewards[P_idx]
        for t in range(P_idx.size):
            for c in np.flatnonzero(Qp[t] > 0).tolist():
                to = absv if c == P_idx.size else vs[c]
                if to != vs[t]:
                    vs[t].add_edge(to, float(rate[t] * Qp[t, c]))
        firsts = vs
    else:
        k = rewards.astype(np.int64)
        chains = []
        for i, kk in zip(P_idx.tolist(), k[P_idx].tolist(), strict=True):
            chains.append(
                [g.find_or_create_vertex(np.append(ga.states[i], c)) for c in range(int(kk))]
            )
        absv = g.find_or_create_vertex(np.append(abs_state, 0) if L else [0])
        for t, ch in enumerate(chains):
            for c in range(len(ch) - 1):
                ch[c].add_edge(ch[c + 1], 1.0)
            for c2 in np.flatnonzero(Qp[t] > 0).tolist():
                to = absv if c2 == P_idx.size else chains[c2][0]
                ch[-1].add_edge(to, float(Qp[t, c2]))
        firsts = [ch[0] for ch in chains]
    for t in np.flatnonzero(ap[:-1] > 0).tolist():
        start.add_edge(firsts[t], float(ap[t]))
    if ap[-1] > 1e-15:
        start.add_edge(absv, float(ap[-1]))
    return g


def _absorbing_state(graph: Graph) -> IntArray:
    deg = graph._out_degree()
    deg[0] = 1
    absorbing = np.flatnonzero(deg == 0)
    if absorbing.size:
        return np.array(graph._store.row(int(absorbing[0])), dtype=np.int64)
    return np.full(graph.state_length(), -1, dtype=np.int64)


def discretize(
    graph: Graph, ga: GraphArrays, theta: FloatArray, rates: FloatArray
) -> tuple[Graph, FloatArray]:
    """A discrete model whose visits to auxiliary vertices count reward events.

    ``rates`` (n_transient, R) are event rates per transient vertex and event type (e.g. mutation
    rates per SFS class). From a vertex with total transition rate d and total event rate M, each
    step makes a transition (probability w / (d + M)) or an event of type r (probability
    μ_r / (d + M)) through an auxiliary vertex that returns to it. Events of a Poisson process of
    rate μ_r while in the vertex are counted exactly, by memorylessness.

    Returns the discrete graph (states get one extra trailing component: 0 for the original
    vertices, r + 1 for the event vertices of type r) and its reward matrix
    (vertices_length(), R) with 1 where a vertex counts an event of that type.
    """
    n, R = ga.n_transient, rates.shape[1]
    w = ga.weights(theta)[0]
    src = ga.edge_sources()
    keep = ga.indices != src  # self-loops do nothing in continuous time
    d = np.bincount(src[keep], weights=w[keep], minlength=n)
    total = d + rates.sum(axis=1)
    if np.any(total <= 0):
        i = int(np.argmin(total))
        raise ParameterError(f"discretize: state {ga.states[i].tolist()} has no rate at all")
    alpha, _ = initial_distribution(ga, theta)
    cls = type(graph)
    g = cls()
    main = [g.find_or_create_vertex(np.append(ga.states[i], 0)) for i in range(n)]
    absv = g.find_or_create_vertex(np.append(_absorbing_state(graph), 0))
    rows = []
    for i in range(n):
        for r in np.flatnonzero(rates[i] > 0).tolist():
            aux = g.find_or_create_vertex(np.append(ga.states[i], r + 1))
            main[i].add_edge(aux, float(rates[i, r] / total[i]))
            aux.add_edge(main[i], 1.0)
            rows.append((aux.index, r))
    for e in np.flatnonzero(keep).tolist():
        i, j = int(src[e]), int(ga.indices[e])
        if w[e] > 0:
            main[i].add_edge(absv if j == n else main[j], float(w[e] / total[i]))
    start = g.starting_vertex()
    for i in np.flatnonzero(alpha[0] > 0).tolist():
        start.add_edge(main[i], float(alpha[0, i]))
    if alpha[0].sum() < 1 - 1e-15:
        start.add_edge(absv, float(1 - alpha[0].sum()))
    reward = np.zeros((g.vertices_length(), R))
    for v, r in rows:
        reward[v, r] = 1.0
    return g, reward


def with_event_rate(ga: GraphArrays, rate_reward: FloatArray) -> GraphArrays:
    """``ga`` with one more parameter μ (last) and an edge of weight μ · ``rate_reward[i]`` from
    each transient vertex i with a non-zero entry into absorption: its A is A + μ diag(r).

    The counts of a Poisson process of rate μ · r(state) during the absorption time solve
    systems in that matrix (`phasic.jax.counts_from_graph`).
    """
    n, p = ga.n_transient, ga.param_length
    src = ga.edge_sources()
    extra = np.flatnonzero(rate_reward != 0)
    all_src = np.concatenate([src, extra])
    order = np.argsort(all_src, kind="stable")  # the new edge goes last in its row
    coef = np.zeros((ga.n_edges + extra.size, p + 1))
    coef[: ga.n_edges, :p] = ga.coef
    coef[ga.n_edges :, p] = rate_reward[extra]
    counts = np.bincount(all_src, minlength=n)
    return GraphArrays(
        n_vertices=ga.n_vertices,
        vertex_index=ga.vertex_index,
        states=ga.states,
        indptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        indices=np.ascontiguousarray(
            np.concatenate([ga.indices, np.full(extra.size, n)])[order], dtype=np.int32
        ),
        base=np.ascontiguousarray(np.concatenate([ga.base, np.zeros(extra.size)])[order]),
        coef=np.ascontiguousarray(coef[order]),
        scc_ptr=ga.scc_ptr,
        start_indices=ga.start_indices,
        start_base=ga.start_base,
        start_coef=np.ascontiguousarray(
            np.column_stack([ga.start_coef, np.zeros(len(ga.start_base))])
        ),
    )
