"""Shape aliases used in annotations and docstrings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray: TypeAlias = NDArray[np.float64]
IntArray: TypeAlias = NDArray[np.int64]
State: TypeAlias = Sequence[int] | NDArray[np.integer]
Theta: TypeAlias = ArrayLike  # (p,) or (B, p)

__all__ = ["ArrayLike", "FloatArray", "IntArray", "State", "Theta"]
