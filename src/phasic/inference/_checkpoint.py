"""Checkpoints of a sampler's run: atomic ``.npz`` files tied to the target that wrote them."""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import numpy as np

from .._atomic import atomic_write
from .._errors import PhasicError

__all__ = ["Checkpoint", "load_checkpoint", "resume_point", "save_checkpoint"]


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


def resume_point(
    path: str | os.PathLike | None,
    fingerprint: str,
    like: list[np.ndarray],
    diagnostics: tuple[str, ...],
    n_iterations: int,
) -> Checkpoint | None:
    """The checkpoint every process resumes from, or None to start afresh.

    Process 0 alone decides: it looks for ``path``, reads and checks it, and broadcasts what it
    found. A file that only some processes see (node-local scratch, a relative path from
    different working folders) would otherwise start the processes at different iterations and
    hang the job in its first collective.

    Raises
    ------
    PhasicError
        On every process, when process 0 cannot use the file (see `load_checkpoint`).
    """
    import jax

    if path is None:
        return None
    if jax.process_count() == 1:
        if not os.path.exists(path):
            return None
        return load_checkpoint(path, fingerprint, like, diagnostics, n_iterations)
    from jax.experimental import multihost_utils

    cp, error = None, ""
    if jax.process_index() == 0 and os.path.exists(path):
        try:
            cp = load_checkpoint(path, fingerprint, like, diagnostics, n_iterations)
        except PhasicError as exc:
            error = str(exc)
    # A fixed-size header first (status, iteration, history shape, diagnostics lengths), so every
    # process can allocate the payload that follows.
    hist = np.asarray(cp.history) if cp is not None else np.zeros((0, 0, 0))
    hist = hist.reshape((hist.shape[0], 0, 0)) if hist.size == 0 else hist
    status = 2 if error else int(cp is not None)
    iteration = cp.iteration if cp is not None else 0
    lengths = [len(cp.diagnostics[n]) if cp is not None else 0 for n in diagnostics]
    header = np.array([status, iteration, *hist.shape, *lengths], dtype=np.int64)
    header = np.asarray(multihost_utils.broadcast_one_to_all(header))
    status, iteration, shape = int(header[0]), int(header[1]), tuple(int(k) for k in header[2:5])
    if status == 2:
        raise PhasicError(
            error or f"process 0 could not resume from checkpoint {path}: see its error message"
        )
    if status == 0:
        return None
    if cp is None:  # the receiving processes: zeros of the right shapes
        leaves = [np.zeros(np.shape(a), np.asarray(a).dtype) for a in like]
        payload = (leaves, np.zeros(shape), [np.zeros(int(k)) for k in header[5:]])
    else:
        payload = (cp.leaves, hist, [np.asarray(cp.diagnostics[n], float) for n in diagnostics])
    leaves, hist, diag = multihost_utils.broadcast_one_to_all(payload)
    return Checkpoint(
        [np.asarray(a) for a in leaves],
        iteration,
        list(np.asarray(hist)),
        {n: np.asarray(v).tolist() for n, v in zip(diagnostics, diag, strict=True)},
    )
