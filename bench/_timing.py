"""Timing helper shared by the benchmark scripts."""

from __future__ import annotations

import time

import numpy as np


def best_time(fn, min_time: float = 0.3, max_reps: int = 200) -> float:
    """Best of repeated runs in seconds (the least disturbed by other work on a 2-vCPU machine);
    one warm-up call first, at least three timed calls."""
    fn()
    ts = []
    t_end = time.perf_counter() + min_time
    while len(ts) < 3 or (time.perf_counter() < t_end and len(ts) < max_reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.min(ts))
