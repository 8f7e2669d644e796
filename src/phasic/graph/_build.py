"""Building a `Graph` from rules: breadth-first from the start, one state at a time through a
per-state callback, or a whole frontier at a time through vectorized numpy rules.

Both builders number vertices in the same order (first discovery, processing states in index
order and transitions in the order given), so the two forms of the same rules give the same graph
index for index.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .._errors import GraphError
from ._store import DictStates, NativeStates
from ._vertex import _as_state, _as_weight

if TYPE_CHECKING:
    from ._graph import Graph

__all__ = ["Transitions", "explore_callback", "explore_vectorized"]

_INF = math.inf
_FAST_NUMBERS = (float, int, np.float64, np.int64)


def explore_callback(graph: Graph, callback: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    """Breadth-first exploration through ``callback(state, **kwargs)`` (one state per call).

    The common case (a list of ``[state, weight(, coefficients)]`` with plain numbers and lists)
    costs a tuple, a dict lookup and four list appends per edge; anything else takes the checked
    path, which accepts arrays and numpy scalars and names the state behind a bad value.
    """
    store, edges = graph._store, graph._edges
    assert isinstance(store, DictStates)  # the per-state builder's own table
    rows, index = store.rows, store.index
    parameterized = graph._parameterized
    queue: deque[int] = deque([0])
    while queue:
        v = queue.popleft()
        result = callback(np.array(rows[v], dtype=np.int64), **kwargs)
        if result is None:
            continue
        if not isinstance(result, list | tuple):
            raise GraphError(f"{_where(graph, v)} returned {type(result).__name__}; return a list")
        src, dst, base, coef = edges.src, edges.dst, edges.base, edges.coef
        p = graph._param_length
        for item in result:
            try:
                if len(item) == 3 and parameterized:
                    nxt, b, c = item
                else:
                    nxt, b = item
                    c = None
                key = nxt if type(nxt) is tuple else tuple(nxt)
            except (TypeError, ValueError):
                _bad_item(graph, v, item)
            try:
                i = index.get(key)
            except TypeError:  # unhashable elements (nested lists): the checked path says why
                i = None
            if i is None:
                i = _new_state(graph, v, nxt)
                queue.append(i)
            if not (type(b) in _FAST_NUMBERS and 0 <= b < _INF):
                b = _as_weight(b, _where(graph, v))
            if c is None or (type(c) is list and not c):
                if p:
                    coef.extend([0.0] * p)
            elif type(c) is list and len(c) == p:
                coef.extend(c)
            else:  # the imperative path checks them (and may fix p, which flushes the lists)
                graph._add_edge(v, i, b, c, _where(graph, v))
                p = graph._param_length
                src, dst, base, coef = edges.src, edges.dst, edges.base, edges.coef
                continue
            src.append(v)
            dst.append(i)
            base.append(b)
    _check_coefficients(graph)
    graph._version += 1


def _where(graph: Graph, v: int) -> str:
    return f"callback({list(graph._store.row(v)) if v else '[] (start)'})"


def _bad_item(graph: Graph, v: int, item: Any) -> None:
    if isinstance(item, list | tuple) and len(item) == 3 and not graph._parameterized:
        raise GraphError(
            f"{_where(graph, v)} returned [next_state, base_weight, coefficients] = {item!r} "
            "but the graph is not parameterized; pass parameterized=True"
        )
    raise GraphError(
        f"{_where(graph, v)} returned the transition {item!r}; each must be "
        + (
            "[next_state, base_weight, coefficients]"
            if graph._parameterized
            else "[next_state, weight]"
        )
    )


def _new_state(graph: Graph, v: int, nxt: Any) -> int:
    key = _as_state(nxt, graph._state_length, _where(graph, v))
    i = graph._store.get(key)  # e.g. [1.0, 2.0] for an existing (1, 2)
    if i is not None:
        return i
    if graph._state_length is None:
        graph._state_length = len(key)
    i = graph._store.add(key)
    if len(graph._store) > graph._max_vertices:
        raise GraphError(
            f"{_where(graph, v)}: the state space passed max_vertices = {graph._max_vertices} "
            f"vertices (the newest state is {list(key)}); if the model is finite, pass a larger "
            "max_vertices to Graph, else bound the states in the callback"
        )
    return i


def _numeric(c: Any) -> bool:
    try:
        np.asarray(c, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return True


def _check_coefficients(graph: Graph) -> None:
    """Plain-list coefficients were stored unchecked: convert them once and name the state
    behind the first that is not a finite number."""
    edges = graph._edges
    p = graph._param_length or 0
    if not edges.coef:
        return
    try:
        arr = np.asarray(edges.coef, dtype=np.float64)
        ok = np.isfinite(arr)
    except (TypeError, ValueError):
        ok = np.array([_numeric(x) and np.isfinite(float(x)) for x in edges.coef])
    if ok.all():
        return
    e = int(np.flatnonzero(~ok)[0]) // max(p, 1)
    v = edges.src[e]
    c = edges.coef[e * p : (e + 1) * p]
    raise GraphError(
        f"{_where(graph, v)}: coefficients {c!r} (to state {list(graph._store.row(edges.dst[e]))})"
        " must be finite numbers"
    )


# ------------------------------------------------------------------------------ vectorized rules
_TARGET_ELEMENTS = 1 << 23  # next-state values per rules call: ~64 MiB of int64 at a time


class Transitions(NamedTuple):
    """One kind of transition from *some* of the states given to vectorized rules.

    The compact alternative to an aligned kind ``[next_states (B, L), base (B,), ...]``: when a
    kind applies to few of the B input states (a pair of block sizes both present), listing only
    those rows saves building B next states per kind.

    Attributes
    ----------
    rows : int array, shape (M,)
        Index of the source state of each transition among the B input states.
    next_states : int array, shape (M, L)
    base : float array, shape (M,)
        Constant part of the weights (the weights of a graph that is not parameterized).
    coefficients : float array, shape (M, p), optional
        Coefficients of θ (parameterized graphs).
    """

    rows: Any
    next_states: Any
    base: Any
    coefficients: Any = None


def explore_vectorized(graph: Graph, rules: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    """Breadth-first exploration through ``rules(states (B, L), **kwargs)``, a frontier at a
    time; state lookup and edge storage are array operations (native hash of the state rows)."""
    first = _kinds(graph, rules(np.zeros((1, 0), dtype=np.int64), **kwargs), None, "rules(start)")
    L = first[0][1].shape[1] if first else 0
    if L == 0:
        raise GraphError(
            "rules(start) must return at least one transition [next_states (1, L), weight] "
            "from the empty start state (an int array of shape (1, 0))"
        )
    graph._state_length = L
    store = graph._store = NativeStates(L)
    _add_edges(graph, np.zeros(1, dtype=np.int64), first, None)
    chunk = 1024
    cursor = 1
    while cursor < len(store):
        stop = min(cursor + chunk, len(store))
        states = store.rows_between(cursor, stop)
        out = rules(states, **kwargs)
        kinds = _kinds(graph, out, states, "rules(states)")
        _add_edges(graph, np.arange(cursor, stop, dtype=np.int64), kinds, states)
        chunk = max(16, _TARGET_ELEMENTS // max(1, len(kinds) * L))
        cursor = stop
    graph._version += 1


# (rows (M,) into the input or None for all B, next (M, L), base (M,), coef (M, p) or None)
Kind = tuple[np.ndarray | None, np.ndarray, np.ndarray, np.ndarray | None]


def _kinds(graph: Graph, out: Any, states: np.ndarray | None, where: str) -> list[Kind]:
    """Check the rules' output: a list of kinds, each aligned with the B input rows
    (``[next (B, L), base (B,), coef (B, p)]`` or ``[next (B, L), weight (B,)]``) or a
    `Transitions` listing its rows."""
    B = 1 if states is None else states.shape[0]
    if not isinstance(out, list | tuple):
        raise GraphError(
            f"{where} returned {type(out).__name__}; return a list of transition kinds"
        )
    kinds: list[Kind] = []
    for k, item in enumerate(out):
        kinds.append(_kind(graph, item, states, B, f"{where}, transition kind {k}"))
    if kinds and graph._parameterized:
        ps = {c.shape[1] for *_, c in kinds if c is not None}
        p = graph._param_length
        if len(ps) > 1 or (p is not None and ps and ps != {p}):
            raise GraphError(
                f"{where}: coefficients of lengths {sorted(ps | ({p} if p else set()))}; every "
                "transition needs one coefficient per parameter"
            )
        if p is None and ps:
            graph._param_length = ps.pop()
            graph._edges.set_param_length(graph._param_length)
    return kinds


def _kind(graph: Graph, item: Any, states: np.ndarray | None, B: int, what: str) -> Kind:
    rows = None
    if isinstance(item, Transitions):
        rows = np.asarray(item.rows)
        if rows.ndim != 1 or rows.dtype.kind not in "iu" or np.any((rows < 0) | (rows >= B)):
            raise GraphError(f"{what}: Transitions.rows must be indices in [0, {B}) of shape (M,)")
        rows = rows.astype(np.int64, copy=False)
        parts = [item.next_states, item.base] + (
            [] if item.coefficients is None else [item.coefficients]
        )
    elif isinstance(item, list | tuple) and len(item) in (2, 3):
        parts = list(item)
    else:
        raise GraphError(
            f"{what}: each kind must be [next_states (B, L), base (B,), coefficients (B, p)], "
            "[next_states (B, L), weight (B,)] or a Transitions"
        )
    M = B if rows is None else rows.size
    if len(parts) == 3 and not graph._parameterized:
        raise GraphError(
            f"{what}: coefficients given but the graph is not parameterized; pass "
            "parameterized=True"
        )
    L = graph._state_length
    nxt = np.asarray(parts[0])
    if nxt.dtype.kind not in "iu":
        raise GraphError(f"{what}: next states must be integers, got dtype {nxt.dtype}")
    if nxt.ndim != 2 or nxt.shape[0] != M or (L is not None and nxt.shape[1] != L):
        raise GraphError(
            f"{what}: next states have shape {nxt.shape}; expected ({M}, "
            f"{L if L is not None else 'L'}), one row per "
            + ("input state" if rows is None else "entry of rows")
        )
    try:
        base = np.broadcast_to(np.asarray(parts[1], dtype=np.float64), (M,))
    except (TypeError, ValueError) as exc:
        raise GraphError(
            f"{what}: weights must be numbers of shape ({M},), got {np.shape(parts[1])}"
        ) from exc
    coef = None
    if len(parts) == 3:
        try:
            c = np.asarray(parts[2], dtype=np.float64)
            coef = np.broadcast_to(c if c.ndim == 2 else c[None, :], (M, c.shape[-1]))
        except (TypeError, ValueError, IndexError) as exc:
            raise GraphError(
                f"{what}: coefficients must be numbers of shape ({M}, p), got {np.shape(parts[2])}"
            ) from exc
    bad = ~(np.isfinite(base) & (base >= 0))
    if coef is not None:
        bad |= ~np.all(np.isfinite(coef), axis=1)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        r = j if rows is None else int(rows[j])
        frm = "[] (start)" if states is None else states[r].tolist()
        raise GraphError(
            f"{what}: the transition {frm} -> {nxt[j].tolist()} has base weight {float(base[j])}"
            + ("" if coef is None else f" and coefficients {coef[j].tolist()}")
            + "; weights must be finite and >= 0 and coefficients finite"
        )
    return rows, nxt.astype(np.int64, copy=False), base, coef


def _add_edges(graph: Graph, src: np.ndarray, kinds: list[Kind], states: np.ndarray | None) -> None:
    """Append the nonzero transitions of ``kinds`` from vertices ``src`` (B,), numbering new
    states by (source, kind), the per-state builder's order, and storing edges in that order."""
    if not kinds:
        return
    p = graph._param_length or 0
    rows_l, nxt_l, base_l, coef_l = [], [], [], []
    for rows, nxt, base, coef in kinds:
        keep = base != 0
        if coef is not None:
            keep |= np.any(coef != 0, axis=1)
        if keep.all():  # rules that list only real transitions: no copies
            r_k = np.arange(base.size) if rows is None else rows
            nxt_l.append(nxt)
            base_l.append(base)
            coef_l.append(np.zeros((base.size, p)) if coef is None else coef)
        else:
            idx = np.flatnonzero(keep)
            r_k = idx if rows is None else rows[idx]
            nxt_l.append(nxt[idx])
            base_l.append(base[idx])
            coef_l.append(np.zeros((idx.size, p)) if coef is None else coef[idx])
        rows_l.append(r_k)
    rows_a = np.concatenate(rows_l)
    # Kinds are concatenated in order, so a stable sort by source row orders by (row, kind).
    order = np.argsort(rows_a, kind="stable")
    store = graph._store
    assert isinstance(store, NativeStates)
    dst = store.insert_ordered([np.ascontiguousarray(x) for x in nxt_l], order)
    if len(store) > graph._max_vertices:
        newest = store.rows_between(len(store) - 1, len(store))[0].tolist()
        raise GraphError(
            f"vectorized rules: the state space passed max_vertices = {graph._max_vertices} "
            f"vertices (the newest state is {newest}); if the model is finite, pass a larger "
            "max_vertices to Graph, else bound the states in the rules"
        )
    graph._edges.append_block(
        src[rows_a[order]].astype(np.int32),
        dst[order].astype(np.int32),
        np.concatenate(base_l)[order],
        np.concatenate(coef_l)[order],
    )
