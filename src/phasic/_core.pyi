"""Type stub of the native module (src/cpp/module.cpp)."""

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

DEFAULT_MAX_STEPS: int
JAX_BUILD_VERSION: str
STATUS: tuple[tuple[str, int], ...]

_Status = tuple[int, int, int]
_F = NDArray[np.float64]

def scc_order(
    indptr: NDArray[np.int64], indices: NDArray[np.int32], perm: NDArray[np.int64]
) -> list[int]: ...
def ffi_targets() -> Mapping[str, Any]: ...
def coxian_state(rates: _F, mass0: float, u: _F, occ: _F, x: _F, max_steps: int) -> bool: ...
def coxian_reduction(
    graph: NativeGraph, theta: _F, alpha: _F
) -> tuple[list[float], float, list[int], list[int], list[float]] | None: ...

class StateTable:
    def __init__(self, L: int) -> None: ...
    def size(self) -> int: ...
    def nbytes(self) -> int: ...
    def insert(self, rows: NDArray[np.int64]) -> NDArray[np.int64]: ...
    def insert_ordered(
        self, parts: list[NDArray[np.int64]], order: NDArray[np.int64]
    ) -> NDArray[np.int64]: ...
    def find(self, rows: NDArray[np.int64]) -> NDArray[np.int64]: ...
    def rows(self, start: int, stop: int) -> NDArray[np.int64]: ...
    def take(self, ids: NDArray[np.int64]) -> NDArray[np.int64]: ...
    def append(self, rows: NDArray[np.int64]) -> NDArray[np.int64]: ...
    def copy(self) -> StateTable: ...

class NativeGraph:
    n: int
    def __init__(
        self,
        indptr: NDArray[np.int64],
        indices: NDArray[np.int32],
        base: _F,
        coef: _F,
        scc_ptr: NDArray[np.int64],
    ) -> None: ...
    def series(
        self,
        theta: _F,
        alpha: _F,
        times: _F,
        defect: _F,
        out: _F,
        discrete: bool,
        kind: int,
        tol: float,
        max_steps: int,
        log: bool = False,
    ) -> _Status: ...
    def series_state(
        self,
        theta: _F,
        alpha: _F,
        times: _F,
        out: _F,
        discrete: bool,
        accumulated: bool,
        tol: float,
        max_steps: int,
    ) -> _Status: ...
    def expectation_one(
        self,
        theta: _F,
        start_indices: NDArray[np.int32],
        start_base: _F,
        start_coef: _F,
    ) -> float: ...
    def solve(self, theta: _F, rhs: _F, out: _F, transpose: bool = False) -> _Status: ...
    def matvec(self, theta: _F, x: _F, out: _F, transpose: bool = False) -> _Status: ...
    def edge_grad(self, theta: _F, lam: _F, x: _F, grad: _F) -> _Status: ...
