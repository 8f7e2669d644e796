"""numpy front of the native kernels: shapes, error translation, the initial distribution."""

from __future__ import annotations

import numpy as np

from .. import _core
from .._errors import AbsorptionError, GraphError, ParameterError
from .._typing import FloatArray
from ._arrays import GraphArrays

__all__ = ["edge_grad", "initial_distribution", "matvec", "raise_status", "solve"]


def _describe(ga: GraphArrays, i: int) -> str:
    return "absorption" if i >= ga.n_transient else str(ga.states[i].tolist())


# Native status codes by name (phasic._core.STATUS, mirrored from kernels.hpp).
STATUS = dict(_core.STATUS)


def raise_status(
    ga: GraphArrays,
    theta: FloatArray,
    status: tuple[int, int, int],
    times: FloatArray | None = None,
    max_steps: int | None = None,
) -> None:
    """Turn a kernel status ``(code, where, batch)`` into a `PhasicError` naming the culprit.

    The one table of native failures and their messages (under jit the same failures come back
    as NaN rows instead; see ``src/cpp/ffi.cpp``).
    """
    code, where, b = status
    if code == STATUS["ok"]:
        return
    th = theta[b].tolist() if theta.shape[1] else []
    if code == STATUS["bad_weight"]:
        src = int(np.searchsorted(ga.indptr, where, side="right") - 1)
        w = ga.base[where] + ga.coef[where] @ theta[b]
        raise ParameterError(
            f"edge {_describe(ga, src)} -> {_describe(ga, int(ga.indices[where]))} has weight "
            f"{w:.6g} = {ga.base[where]:.6g} + {ga.coef[where].tolist()} · θ at θ = {th}: "
            "rates must be >= 0; choose θ inside the valid region (e.g. a positive transform)"
        )
    if code == STATUS["singular"]:
        raise AbsorptionError(
            f"absorption is unreachable from state {_describe(ga, where)} at θ = {th} (its exit "
            "rates vanish), so the expectation is infinite; check θ or the graph's edges"
        )
    if code == STATUS["bad_probability"]:
        raise ParameterError(
            f"discrete model: out-probabilities of state {ga.states[where].tolist()} sum to > 1 "
            f"at θ = {th}; weights of a discrete model are jump probabilities"
        )
    if code == STATUS["too_many_steps"]:
        t_max = float(np.max(times, initial=0)) if times is not None else float("nan")
        raise ParameterError(
            f"the uniformization series at θ = {th} needs about {where:.3g} steps "
            f"(largest rate × largest time = {t_max:.6g} time units × rate), over max_steps = "
            f"{max_steps:.3g}; pass a larger max_steps (work and time grow with it; memory does "
            "not) or rescale time"
        )
    if code == STATUS["bad_time"] and times is not None:
        raise ParameterError(f"time {times[where]!r} must be finite and >= 0")
    raise GraphError(f"native kernel failed with status {status}")


def _check_batch(ga: GraphArrays, theta: FloatArray, arr: FloatArray, name: str) -> None:
    if arr.ndim != 3 or arr.shape[0] != ga.n_transient or arr.shape[1] != theta.shape[0]:
        raise ParameterError(
            f"{name} must have shape (n={ga.n_transient}, B={theta.shape[0]}, K), got {arr.shape}"
        )


def _nbk(ga: GraphArrays, theta: FloatArray, x: FloatArray, kernel, transpose: bool) -> FloatArray:
    x = np.ascontiguousarray(x, dtype=np.float64)
    _check_batch(ga, theta, x, "the right-hand side")
    out = np.empty_like(x)
    raise_status(ga, theta, kernel(theta, x, out, transpose))
    return out


def solve(
    ga: GraphArrays, theta: FloatArray, rhs: FloatArray, transpose: bool = False
) -> FloatArray:
    """x with ``A x = rhs`` (``A^T x = rhs`` if ``transpose``); shapes (n, B, K), A = D - W."""
    return _nbk(ga, theta, rhs, ga.native.solve, transpose)


def matvec(
    ga: GraphArrays, theta: FloatArray, x: FloatArray, transpose: bool = False
) -> FloatArray:
    """``A x`` (or ``A^T x``), shapes (n, B, K)."""
    return _nbk(ga, theta, x, ga.native.matvec, transpose)


def edge_grad(ga: GraphArrays, theta: FloatArray, lam: FloatArray, x: FloatArray) -> FloatArray:
    """Per column k: d/dθ of ``lam_k^T A^{-1} r_k`` at ``x = A^{-1} r``; shape (B, K, p)."""
    lam = np.ascontiguousarray(lam, dtype=np.float64)
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty((theta.shape[0], x.shape[2], ga.param_length))
    raise_status(ga, theta, ga.native.edge_grad(theta, lam, x, out))
    return out


def initial_distribution(ga: GraphArrays, theta: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Initial distribution over transient vertices and its total start weight.

    Returns
    -------
    alpha : float64 array, shape (B, n)
        Probability of starting in each transient vertex (sums to < 1 with a defect).
    total : float64 array, shape (B,)
        Sum of the start vertex's out-weights (normalizer).
    """
    w = ga.start_weights(theta)
    if np.any(~(w >= 0)):
        b, s = np.argwhere(~(w >= 0))[0]
        raise ParameterError(
            f"start edge to {_describe(ga, int(ga.start_indices[s]))} has weight {w[b, s]:.6g} "
            f"at θ = {theta[b].tolist()}; start weights must be >= 0"
        )
    total = w.sum(axis=1)
    if np.any(total <= 0):
        b = int(np.argmax(total <= 0))
        raise ParameterError(
            f"the start vertex's out-weights sum to 0 at θ = {theta[b].tolist()} (empty start); "
            "give the start edges positive weight"
        )
    alpha = np.zeros((theta.shape[0], ga.n_transient + 1))
    np.add.at(alpha, (slice(None), ga.start_indices), w)  # type: ignore[arg-type]  # numpy stubs refuse tuple indices
    return alpha[:, : ga.n_transient] / total[:, None], total
