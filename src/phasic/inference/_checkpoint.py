"""Checkpoints of a sampler's run: atomic ``.npz`` files tied to the target that wrote them."""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import numpy as np

from .._atomic import atomic_write
from .._errors import PhasicError

__all__ = ["Checkpoint", "load_checkpoint", "save_checkpoint"]


class Checkpoint(NamedTuple):
    """What a resumed run needs: the state's leaves (host arrays, in ``tree_flatten`` order), the
    iterations done, the saved history (k, n, d) and the per-iteration diagnostics."""

    leaves: list[np.ndarray]
    iteration: int
    history: np.ndarray | list[np.ndarray]
    diagnostics: dict[str, list[float]]


def save_checkpoint(path: str | os.PathLike, fingerprint: str, checkpoint: Checkpoint) -> None:
    """Write ``checkpoint`` to ``path`` atomically (a crash leaves the previous file intact)."""
    data: dict[str, Any] = {f"leaf_{i}": np.asarray(a) for i, a in enumerate(checkpoint.leaves)}
    data["history"] = np.asarray(checkpoint.history)
    data["fingerprint"] = np.array(fingerprint)
    data["iteration"] = np.int64(checkpoint.iteration)
    data.update({name: np.asarray(v) for name, v in checkpoint.diagnostics.items()})
    with atomic_write(path, binary=True) as fh:
        np.savez(fh, **data)


def load_checkpoint(
    path: str | os.PathLike,
    fingerprint: str,
    like: list[np.ndarray],
    diagnostics: tuple[str, ...],
    n_iterations: int,
) -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint` for the same ``fingerprint``.

    ``like`` are the leaves of a fresh state (their shapes are what the file must hold).

    Raises
    ------
    PhasicError
        The file is unreadable, was written for another target or configuration, or holds values
        no run of this one could have written (wrong shapes, NaN, an iteration out of range).
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            fp = str(z["fingerprint"])
            it = int(z["iteration"])
            leaves = [z[f"leaf_{i}"] for i in range(len(like))]
            history = list(z["history"])
            diag = {name: z[name].tolist() for name in diagnostics}
    except Exception as exc:
        raise PhasicError(
            f"checkpoint {path} is unreadable or corrupt ({exc}); delete it to start afresh"
        ) from exc
    if fp != fingerprint:
        raise PhasicError(
            f"checkpoint {path} was written by a different SVGD configuration "
            "or target (particles, dimension, iterations, kernel, optimizer, schedule, "
            "initial particles, data, likelihood, model, prior or regularization differ); "
            "delete it or use another checkpoint_path"
        )
    for a, b in zip(leaves, like, strict=True):
        if np.shape(a) != np.shape(b):
            raise PhasicError(f"checkpoint {path} has arrays of the wrong shape")
        if np.issubdtype(np.asarray(a).dtype, np.floating) and not np.all(np.isfinite(a)):
            raise PhasicError(f"checkpoint {path} holds NaN or infinite values")
    if not 0 <= it <= n_iterations or any(len(v) > it + 1 for v in diag.values()):
        raise PhasicError(
            f"checkpoint {path} says {it} iterations of {n_iterations}: not a checkpoint "
            "of this run; delete it to start afresh"
        )
    return Checkpoint(leaves, it, history, diag)
