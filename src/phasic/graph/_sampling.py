"""Exact simulation of absorption times and accumulated rewards, vectorized over samples."""

from __future__ import annotations

import numpy as np

from .._typing import FloatArray
from ._arrays import GraphArrays
from ._native import initial_distribution

__all__ = ["as_generator", "paths", "simulate"]


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def simulate(
    ga: GraphArrays,
    theta: FloatArray,
    n: int,
    rewards: FloatArray,
    rng: np.random.Generator,
    discrete: bool,
    max_steps: int = 10_000_000,
) -> FloatArray:
    """Accumulated rewards until absorption for ``n`` independent paths.

    Parameters
    ----------
    theta : shape (1, p)
    rewards : shape (n_transient, R)
        Reward rate (continuous) or reward per visit (discrete) of each transient vertex.

    Returns
    -------
    float64 array, shape (n, R)
    """
    nt = ga.n_transient
    w = ga.weights(theta)[0]
    d = np.add.reduceat(w, ga.indptr[:-1]) if nt else np.zeros(0)
    cum = np.cumsum(w)
    first = ga.indptr[:-1]
    offset = cum[first] - w[first] if nt else np.zeros(0)

    alpha, _ = initial_distribution(ga, theta)
    p0 = np.append(alpha[0], max(0.0, 1.0 - alpha[0].sum()))
    cur = rng.choice(nt + 1, size=n, p=p0 / p0.sum())
    acc = np.zeros((n, rewards.shape[1]))
    idx = np.flatnonzero(cur < nt)
    for _ in range(max_steps):
        if idx.size == 0:
            return acc
        v = cur[idx]
        if discrete:
            acc[idx] += rewards[v]
            u = rng.random(idx.size)
            move = u < d[v]
            target = offset[v] + u
        else:
            acc[idx] += rng.exponential(1.0, idx.size)[:, None] / d[v][:, None] * rewards[v]
            move = np.ones(idx.size, dtype=bool)
            target = offset[v] + rng.random(idx.size) * d[v]
        e = np.searchsorted(cum, target, side="right")
        e = np.clip(e, first[v], ga.indptr[v + 1] - 1)
        nxt = np.where(move, ga.indices[e], v)
        cur[idx] = nxt
        idx = idx[nxt < nt]
    raise RuntimeError(f"simulation did not absorb within {max_steps} steps")


def paths(
    counts: np.ndarray,
    dst: np.ndarray,
    w: FloatArray,
    states: np.ndarray,
    rng: np.random.Generator,
    discrete: bool,
    max_steps: int,
    until: float | None,
    n: int,
) -> list:
    """``n`` paths on the graph's own edges (vertex order, graph indices: which absorbing
    vertex a path ends in is kept), each until absorption or past time ``until``.

    ``counts`` (nv,) out-edges per vertex, ``dst`` (E,) targets, ``w`` (E,) weights at θ,
    ``states`` (nv, L). Returns a list of `Path`.
    """
    from ._quantities import Path

    ptr = np.concatenate([[0], np.cumsum(counts)])
    out = []
    for _ in range(n):
        v = _choose(dst, w, ptr, 0, rng)
        verts, hold = [v], []
        elapsed = 0.0
        for _step in range(max_steps):
            lo, hi = ptr[v], ptr[v + 1]
            if lo == hi:  # absorbing
                break
            total = float(w[lo:hi].sum())
            if discrete:  # the shortfall from 1 is a self-loop: geometric holding
                h = float(rng.geometric(min(1.0, total))) if total > 0 else np.inf
            else:
                h = float(rng.exponential(1.0 / total)) if total > 0 else np.inf
            hold.append(h)
            elapsed += h
            if (until is not None and elapsed > until) or not np.isfinite(h):
                break
            v = _choose(dst, w, ptr, v, rng)
            verts.append(v)
        else:
            raise RuntimeError(f"a path did not absorb within {max_steps} steps")
        hold += [np.inf] * (len(verts) - len(hold))
        idx = np.asarray(verts, dtype=np.int64)
        out.append(Path(idx, states[idx], np.asarray(hold, dtype=np.float64)))
    return out


def _choose(dst, w, ptr, v: int, rng: np.random.Generator) -> int:
    lo, hi = ptr[v], ptr[v + 1]
    c = np.cumsum(w[lo:hi])
    e = int(np.searchsorted(c, rng.random() * c[-1], side="right"))
    return int(dst[lo + min(e, hi - lo - 1)])
