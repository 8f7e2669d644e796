"""Joint event counts under epochs, as the expected occupation of an expanded chain.

The chain on (state, counts) with counts k in [0, K]^R moves like the graph at fixed counts and
steps k -> k + e_a at rate μ r_a(state) (past K: into an absorbing overflow state). Absorption
with counts k goes to a terminal state T_k, which leaves at rate 1 in every epoch, so the time
spent in T_k has mean P(N = k): the joint table is the first moment of the indicators of the
T_k, and `moments_from_graph(..., epochs=E)` carries it across epochs, with its exact
gradients in θ, μ (the expanded graph's last parameter) and the start times. A start edge into
absorption (the defect) starts in T_0. The expanded graph has n (K + 1)^R + (K + 1)^R + 1
vertices: for the small tables this serves (the joint SFS of a few classes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..graph import Graph

if TYPE_CHECKING:
    from ..graph import GraphArrays


def joint_count_chain(ga: GraphArrays, r: np.ndarray, K: int) -> tuple[Graph, np.ndarray]:
    """(the expanded graph, its rewards (vertices, (K + 1)^R): the indicators of T_k in the
    C order of the table) for the compiled graph ``ga`` and rewards ``r`` (n, R) in compiled
    order. Parameters: θ then μ. States: [vertex + 1, k_1..k_R, phase], phase 0 in the chain,
    1 terminal, 2 the absorbing overflow (vertex 0 for the last two)."""
    n, p = ga.n_transient, ga.param_length
    R = r.shape[1]
    deg = np.diff(ga.indptr)
    width = int(deg.max()) if n else 0
    src = ga.edge_sources()
    sink = np.zeros(2 + R, dtype=np.int64)
    sink[-1] = 2

    def coefs(c: np.ndarray, mu: np.ndarray) -> np.ndarray:
        return np.concatenate([c, mu[:, None]], axis=1)

    def rules(states: np.ndarray) -> list:
        if states.shape[1] == 0:
            out = []
            for s, i in enumerate(ga.start_indices):
                st = np.zeros((1, 2 + R), dtype=np.int64)
                st[0, 0], st[0, -1] = (i + 1, 0) if i < n else (0, 1)
                c = coefs(ga.start_coef[s : s + 1], np.zeros(1))
                out.append([st, ga.start_base[s : s + 1], c])
            return out
        B = states.shape[0]
        phase, v = states[:, -1], states[:, 0] - 1
        inside = phase == 0
        vi = np.where(inside, v, 0)
        kinds = []
        for j in range(width):  # the j-th out-edge of each state's vertex
            e = np.where(inside & (j < deg[vi]), ga.indptr[vi] + j, -1)
            es = np.maximum(e, 0)
            ok = (e >= 0) & (ga.indices[es] != src[es])  # self-loops change nothing
            dst = ga.indices[es].astype(np.int64)
            nxt = states.copy()
            absorbed = dst >= n
            nxt[:, 0] = np.where(absorbed, 0, dst + 1)
            nxt[:, -1] = np.where(absorbed, 1, 0)
            base = np.where(ok, ga.base[es], 0.0)
            c = np.where(ok[:, None], ga.coef[es], 0.0)
            kinds.append([nxt, base, coefs(c, np.zeros(B))])
        for a in range(R):  # an event of type a
            rate = np.where(inside, r[vi, a], 0.0)
            nxt = states.copy()
            nxt[:, 1 + a] += 1
            nxt = np.where((nxt[:, 1 + a] > K)[:, None], sink, nxt)
            kinds.append([nxt, np.zeros(B), coefs(np.zeros((B, p)), rate)])
        leave = (phase == 1).astype(float)  # T_k leaves at rate 1
        kinds.append([np.broadcast_to(sink, states.shape).copy(), leave, np.zeros((B, p + 1))])
        return kinds

    g = Graph(callback=rules, vectorized=True, parameterized=True)
    st = np.asarray(g.states())
    cells = (K + 1,) * R
    rewards = np.zeros((st.shape[0], int(np.prod(cells))))
    term = np.flatnonzero(st[:, -1] == 1)
    rewards[term, np.ravel_multi_index(st[term, 1 : 1 + R].T, cells)] = 1.0
    return g, rewards


def joint_counts_with_epochs(
    ga: GraphArrays, r: np.ndarray, K: int, n_epochs: int, moments: Callable, **kw
) -> Callable:
    """``table(theta (E, p), mu, starts) -> (K + 1,)*R`` (θ and starts checked by the caller)."""
    import jax.numpy as jnp

    g, rewards = joint_count_chain(ga, r, K)
    fn = moments(g, 1, rewards, epochs=n_epochs, **kw)
    shape = (K + 1,) * r.shape[1]

    def table(th, mu, starts):
        ta = jnp.concatenate([th, jnp.broadcast_to(mu, (n_epochs, 1))], axis=1)
        return fn(ta, starts)[0].reshape(shape)

    return table
