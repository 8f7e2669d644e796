"""Epochs (piecewise-constant θ) for the eager distribution functions, the probability flows
they carry across epoch boundaries, and the coupled moment stack carried across an epoch."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._epoch_chain import coupled_step, tail_bound
from .._errors import ParameterError
from .._typing import ArrayLike, FloatArray, Theta
from . import _series
from ._native import STATUS, initial_distribution, matvec, raise_status

if TYPE_CHECKING:
    from ._model import PhaseTypeModel

__all__ = ["by_epoch", "defect", "epoch_plan", "flows_into", "propagate_stack"]


def epoch_plan(model: PhaseTypeModel, theta: Theta | None, epochs: ArrayLike | None):
    """(ga, θ (B, p) or one θ (1, p) per epoch, epoch start times or None, batched)."""
    ga = model.compile()
    if epochs is None:
        th = model._resolve_theta(theta)
        batched = theta is not None and np.ndim(theta) == 2
        return ga, th, None, batched
    ep = np.asarray(epochs, dtype=np.float64)
    if ep.ndim != 1 or ep.size == 0 or ep[0] != 0 or np.any(np.diff(ep) <= 0):
        raise ParameterError(
            f"epochs = {np.asarray(epochs).tolist()} must be increasing start times beginning "
            "at 0, e.g. epochs=[0, t1]"
        )
    if theta is None:
        raise ParameterError("with epochs, pass theta=[θ_0, θ_1, ...]: one θ per epoch")
    th = np.asarray(theta, dtype=np.float64)
    if th.ndim != 2 or th.shape[0] != ep.size:
        raise ParameterError(
            f"with {ep.size} epochs, theta must have shape ({ep.size}, p); got {th.shape}"
        )
    ths = [model._resolve_theta(row) for row in th]
    return ga, ths, ep, False


def by_epoch(
    model: PhaseTypeModel,
    theta,
    epochs,
    times: FloatArray,
    fn,
    tol: float,
    max_steps: int,
    cdf: bool,
):
    """Evaluate fn(ga, θ, α, absorbed, local times) per epoch; returns (B, T, ...), batched.

    With ``cdf``, ``absorbed`` (B,) is the probability of absorption before the epoch starts
    (the defect at the first), carried as a sum of non-negative terms so left-tail cdfs stay
    relative; otherwise it is not computed (None).
    """
    ga, th, ep, batched = epoch_plan(model, theta, epochs)
    if ep is None:
        alpha, _ = initial_distribution(ga, th)
        return fn(ga, th, alpha, defect(ga, th) if cdf else None, times), batched
    alpha, _ = initial_distribution(ga, th[0])
    absorbed = defect(ga, th[0]) if cdf else None
    which = np.searchsorted(ep, times, side="right") - 1
    out = None
    for e in range(ep.size):
        sel = np.flatnonzero(which == e)
        if sel.size:
            vals = fn(ga, th[e], alpha, absorbed, np.ascontiguousarray(times[sel] - ep[e]))
            if out is None:
                out = np.zeros((1, times.size) + vals.shape[2:])
            out[:, sel] = vals
        if e + 1 < ep.size:
            span = np.array([ep[e + 1] - ep[e]])
            if cdf:
                absorbed = _series.series(
                    ga,
                    th[e],
                    alpha,
                    span,
                    discrete=False,
                    kind="cdf",
                    tol=tol,
                    defect=absorbed,
                    max_steps=max_steps,
                )[:, 0]
            alpha = _series.series_state(
                ga, th[e], alpha, span, discrete=False, tol=tol, max_steps=max_steps
            )[:, 0]
    return out, False


def defect(ga, th: FloatArray) -> FloatArray:
    """Probability (B,) of absorption at time 0: start weight into absorption / total."""
    w = ga.start_weights(th)
    return w[:, ga.start_indices == ga.n_transient].sum(axis=1) / w.sum(axis=1)


def flows_into(targets, keep, dst, base, coef, th, src_row=None, n=None) -> FloatArray:
    """Summed weights of the ``keep`` edges into each vertex of ``targets`` at θ (B, p):
    (B, A), or (B, n, A) by source row ``src_row`` (transient vertices in compiled order)."""
    col = np.full(max(dst.max(initial=-1), targets.max(initial=-1)) + 1, -1)
    col[targets] = np.arange(targets.size)
    keep = keep & (col[dst] >= 0)
    w = base[keep][None, :] + th @ coef[keep].T  # (B, E')
    if src_row is None:
        out = np.zeros((th.shape[0], targets.size))
        np.add.at(out, (slice(None), col[dst[keep]]), w)  # type: ignore[arg-type]
        return out
    out = np.zeros((th.shape[0], n, targets.size))
    np.add.at(out, (slice(None), src_row[keep], col[dst[keep]]), w)  # type: ignore[arg-type]
    return out


def propagate_stack(
    ga,
    th: FloatArray,
    u: FloatArray,
    delta: float,
    r: FloatArray,
    scale: FloatArray,
    tol: float,
    max_steps: int,
) -> FloatArray:
    """exp(M Δ) u across one finite epoch at one θ (1, p), for a stack u (n, 1, k, R).

    The numpy twin of `phasic.jax._epochs` (same step, same tail bound, see
    `phasic._epoch_chain`): stops when the tail is below ``tol`` times the smallest entry of
    ``scale`` (k, R) (floored at 1e-8 of the largest).
    """
    n, k = ga.n_transient, u.shape[2]
    d = np.bincount(ga.edge_sources(), ga.weights(th)[0], minlength=n)
    lam = max(float(d.max(initial=0.0)), 1e-300)
    g = 1.0 + float(np.abs(r).max(initial=0.0)) / lam if k > 1 else 1.0
    lt = lam * delta
    floor = tol * max(float(scale.min()), 1e-8 * float(scale.max()))
    rr = r[:, None, None, :]

    def mv(x: FloatArray) -> FloatArray:
        return matvec(ga, th, x.reshape(n, 1, -1)).reshape(x.shape)

    m, x, logpi = 0, u, -lt
    pi = np.exp(logpi)
    acc = pi * u
    while tail_bound(m, pi, np.abs(x).max(), lt, g, np) > floor:
        if m >= max_steps:
            raise_status(
                ga, th, (STATUS["too_many_steps"], int(g * lt) + 1, 0), np.array([delta]), max_steps
            )
        x = coupled_step(mv, x, rr, lam, np)
        m += 1
        logpi += np.log(lt) - np.log(m)
        pi = np.exp(logpi)
        acc = acc + pi * x
    return acc
