"""Where a `Graph` keeps its states and edges while it is built and edited.

States live either in a dict of tuples (the per-state callback and imperative edits: a Python
dict is the fastest lookup for one state at a time) or in the native hash table of state rows
(the vectorized builder: whole frontiers are found and inserted in one call). Edges are an
append-only log of flat lists (one edge at a time) and numpy blocks (a frontier at a time),
turned into arrays on demand; per-vertex views are derived from the arrays and cached until the
next change.
"""

from __future__ import annotations

import numpy as np

from .. import _core
from .._typing import FloatArray, IntArray

__all__ = ["DictStates", "EdgeLog", "NativeStates"]


class DictStates:
    """States as tuples of Python ints, row 0 (the start) empty, found through a dict."""

    __slots__ = ("index", "rows")

    def __init__(self) -> None:
        self.rows: list[tuple[int, ...]] = [()]
        self.index: dict[tuple[int, ...], int] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def get(self, key: tuple[int, ...]) -> int | None:
        return self.index.get(key)

    def add(self, key: tuple[int, ...]) -> int:
        i = self.index[key] = len(self.rows)
        self.rows.append(key)
        return i

    def row(self, i: int) -> tuple[int, ...]:
        return self.rows[i]

    def copied(self) -> DictStates:
        """An independent copy (rows outside the lookup stay outside)."""
        new = DictStates()
        new.rows, new.index = list(self.rows), dict(self.index)
        return new

    def take(self, ids: IntArray, L: int) -> IntArray:
        """States of vertices ``ids`` (none the start), shape (len(ids), L)."""
        out = np.array([self.rows[i] for i in ids.tolist()], dtype=np.int64)
        return out.reshape(len(ids), L)

    def array(self, L: int) -> IntArray:
        out = np.zeros((len(self.rows), L), dtype=np.int64)
        if len(self.rows) > 1:
            out[1:] = np.array(self.rows[1:], dtype=np.int64).reshape(-1, L)
        return out


class NativeStates:
    """States as rows of one int64 buffer in the native hash table; row 0 (the start) is not in
    the table and reads as zeros."""

    __slots__ = ("L", "table")

    def __init__(self, L: int) -> None:
        self.L = L
        self.table = _core.StateTable(L)

    def __len__(self) -> int:
        return self.table.size() + 1

    def get(self, key: tuple[int, ...]) -> int | None:
        i = int(self.table.find(np.asarray([key], dtype=np.int64))[0])
        return None if i < 0 else i + 1

    def add(self, key: tuple[int, ...]) -> int:
        return int(self.table.insert(np.asarray([key], dtype=np.int64))[0]) + 1

    def insert_ordered(self, parts: list[IntArray], order: IntArray) -> IntArray:
        """Vertex indices of the rows of ``parts`` (each (M_k, L), int64 C-contiguous) taken
        as one array; new states are appended in the order ``rows[order[0]], ...``."""
        return self.table.insert_ordered(parts, order) + 1

    def row(self, i: int) -> tuple[int, ...]:
        return () if i == 0 else tuple(self.table.rows(i - 1, i)[0].tolist())

    def rows_between(self, start: int, stop: int) -> IntArray:
        """States of vertices ``start..stop-1`` (start >= 1), shape (stop - start, L)."""
        return self.table.rows(start - 1, stop - 1)

    def copied(self) -> NativeStates:
        """An independent copy (rows outside the lookup stay outside)."""
        new = NativeStates.__new__(NativeStates)
        new.L, new.table = self.L, self.table.copy()
        return new

    def take(self, ids: IntArray, L: int) -> IntArray:
        """States of vertices ``ids`` (none the start), shape (len(ids), L)."""
        return self.table.take(np.ascontiguousarray(ids, dtype=np.int64) - 1)

    def array(self, L: int) -> IntArray:
        out = np.zeros((len(self), L), dtype=np.int64)
        out[1:] = self.table.rows(0, len(self) - 1)
        return out


# (src (E,) int32, dst (E,) int32, base (E,), coef (E, p))
Block = tuple[np.ndarray, np.ndarray, FloatArray, FloatArray]


class EdgeLog:
    """Edges in insertion order: (src, dst, base, coef (p,)) appended one at a time into flat
    lists or as numpy blocks; `arrays` joins them (cached) and `by_source` groups them.

    Vertex ids are int32 (the state table holds at most 2^31 - 1 states): 8 bytes an edge less
    on models of tens of millions of edges.
    """

    def __init__(self) -> None:
        self.src: list[int] = []
        self.dst: list[int] = []
        self.base: list[float] = []
        self.coef: list[float] = []  # flat, p per edge
        self.blocks: list[Block] = []
        self.p = 0
        self._joined: Block | None = None
        self._grouped: tuple[int, IntArray, IntArray] | None = None

    def __len__(self) -> int:
        return len(self.dst) + sum(b[1].size for b in self.blocks)

    def set_param_length(self, p: int) -> None:
        """Fix p; edges stored before with no coefficients get zeros."""
        if p == self.p:
            return
        assert self.p == 0
        self._flush()
        self.p = p
        self.blocks = [(s, d, b, np.zeros((d.size, p))) for s, d, b, _ in self.blocks]
        self._joined = None

    def append_block(
        self, src: IntArray, dst: IntArray, base: FloatArray, coef: FloatArray
    ) -> None:
        self._flush()
        self.blocks.append((src, dst, base, coef))
        self._joined = None

    def changed(self) -> None:
        self._joined = None

    def copied(self) -> EdgeLog:
        """An independent copy of the edges, joined into one block."""
        new = EdgeLog()
        new.p = self.p
        new.blocks = [tuple(a.copy() for a in self.arrays())]  # type: ignore[list-item]
        return new

    def _flush(self) -> None:
        if self.dst:
            p = self.p
            coef = np.asarray(self.coef, dtype=np.float64).reshape(len(self.dst), p)
            self.blocks.append(
                (
                    np.asarray(self.src, dtype=np.int32),
                    np.asarray(self.dst, dtype=np.int32),
                    np.asarray(self.base, dtype=np.float64),
                    coef,
                )
            )
            self.src, self.dst, self.base, self.coef = [], [], [], []

    def arrays(self) -> Block:
        """(src (E,), dst (E,), base (E,), coef (E, p)) in insertion order."""
        if self._joined is None or self.dst:
            self._flush()
            if len(self.blocks) > 1:
                self.blocks = [
                    (
                        np.concatenate([b[0] for b in self.blocks]),
                        np.concatenate([b[1] for b in self.blocks]),
                        np.concatenate([b[2] for b in self.blocks]),
                        np.concatenate([b[3] for b in self.blocks]),
                    )
                ]
            if self.blocks:
                joined = self.blocks[0]
            else:
                e = np.zeros(0, dtype=np.int32)
                joined = (e, e, np.zeros(0), np.zeros((0, self.p)))
            self._joined = joined
            return joined
        return self._joined

    def by_source(self, n_vertices: int, version: int) -> tuple[IntArray, IntArray]:
        """(order, ptr): edge ids grouped by source vertex (insertion order within a vertex);
        the edges of vertex v are ``order[ptr[v]:ptr[v+1]]``. Cached per graph version."""
        if self._grouped is None or self._grouped[0] != version:
            src = self.arrays()[0]
            order = np.argsort(src, kind="stable")
            ptr = np.zeros(n_vertices + 1, dtype=np.int64)
            np.cumsum(np.bincount(src, minlength=n_vertices), out=ptr[1:])
            self._grouped = (version, order, ptr)
        return self._grouped[1], self._grouped[2]
