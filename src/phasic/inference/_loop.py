"""The run loop every sampler shares: jitted blocks of iterations, progress, checkpoints, stop."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax

__all__ = ["block_length", "run_blocks"]


def block_length(block_size: int, checkpoint_every: int | None) -> int:
    """Iterations per jitted block: ``block_size``, shortened so checkpoints fall on block ends.

    Block boundaries are fixed multiples from iteration 0, so a resumed run replays exactly the
    computations of an uninterrupted one.
    """
    block = max(1, block_size)
    if checkpoint_every:
        block = math.gcd(block, int(checkpoint_every))
    return block


def run_blocks(
    run_block: Callable[[Any, int], tuple[Any, Any, Any]],
    state: Any,
    *,
    start: int,
    n_iterations: int,
    block: int,
    record: Callable[[int, int, Any, Any], bool],
    save: Callable[[Any, int], None] | None = None,
    checkpoint_every: int | None = None,
    progress: str | None = None,
    postfix: Callable[[int], dict[str, str]] | None = None,
) -> tuple[Any, int]:
    """Run iterations ``start .. n_iterations`` in blocks; returns ``(state, iterations done)``.

    Parameters
    ----------
    run_block : ``run_block(state, length) -> (state, per-iteration outputs, per-iteration info)``
        One dispatch per block: fast, and no pile-up of collective programs.
    record : ``record(iteration, length, outputs, info) -> stop``
        Gets each block's host copies (``iteration`` is where the block started); it keeps history
        and diagnostics, raises on a failed iteration, and returns True to stop early.
    save : ``save(state, iterations done)``, optional
        Called after a block that ends on a multiple of ``checkpoint_every`` (every block when
        None) and after the last; every process calls it (gathering is a collective).
    progress : str, optional
        A progress bar with this title (pass None on processes other than the coordinator).
    postfix : ``postfix(iterations done) -> {name: text}``, optional
        Shown beside the bar.
    """
    bar = None
    if progress is not None:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_iterations, initial=start, desc=progress, unit="it")
    it = start
    try:
        # The next block is dispatched before this one's outputs are read, so the host's work
        # (copies, records, progress) overlaps the device's; after a stop or an error the block
        # in flight is dropped. Every process dispatches the same blocks in the same order.
        take = min(block, n_iterations - it)
        pending = run_block(state, take) if take > 0 else None
        while pending is not None:
            state, outputs, info = pending
            nxt = min(block, n_iterations - it - take)
            pending = run_block(state, nxt) if nxt > 0 else None
            stop = record(it, take, jax.device_get(outputs), jax.device_get(info))
            it += take
            if bar is not None:
                if postfix is not None:
                    bar.set_postfix(postfix(it))
                bar.update(take)
            if save is not None and (
                not checkpoint_every or it % checkpoint_every == 0 or it >= n_iterations
            ):
                save(state, it)
            if stop:
                break
            take = nxt
    finally:
        if bar is not None:
            bar.close()
    return state, it
