"""Checks of the series settings every layer accepts (``tol``, ``max_steps``), written once."""

from __future__ import annotations

import numpy as np

from . import _core
from ._errors import ParameterError

__all__ = ["DEFAULT_MAX_STEPS", "DEFAULT_TOL", "check_max_steps", "check_tol"]

# Most uniformization steps one evaluation may take, unless the caller says otherwise.
DEFAULT_MAX_STEPS: int = _core.DEFAULT_MAX_STEPS
# Truncation error of a series value, absolute and relative to the value.
DEFAULT_TOL: float = 1e-12


def check_tol(tol: float) -> float:
    if isinstance(tol, bool) or not isinstance(tol, int | float | np.floating | np.integer):
        raise ParameterError(f"tol = {tol!r} must be a number in (0, 1), e.g. 1e-12")
    if not (np.isfinite(tol) and 0 < tol < 1):
        raise ParameterError(f"tol = {tol!r} must be in (0, 1), e.g. 1e-12")
    return float(tol)


def check_max_steps(max_steps) -> int:
    if isinstance(max_steps, bool) or not isinstance(max_steps, int | np.integer) or max_steps < 1:
        raise ParameterError(f"max_steps = {max_steps!r} must be a positive integer, e.g. 10**8")
    return int(max_steps)
