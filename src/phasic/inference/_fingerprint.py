"""What defines an SVGD target, hashed: so a checkpoint is never reused for another one."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

__all__ = ["identity"]


def _update(h: Any, obj: Any, depth: int) -> None:
    if obj is None or isinstance(obj, bool | int | float | str | bytes):
        h.update(repr(obj).encode())
        return
    tag = getattr(obj, "phasic_fingerprint", None)  # set by Graph.pmf_from_graph & co.
    if isinstance(tag, str):
        h.update(tag.encode())
        return
    if isinstance(obj, np.ndarray) or hasattr(obj, "__array__") and hasattr(obj, "dtype"):
        a = np.ascontiguousarray(np.asarray(obj))
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
        return
    if isinstance(obj, list | tuple):
        for x in obj:
            _update(h, x, depth)
        return
    code = getattr(obj, "__code__", None)
    if code is not None:
        # The function's code and constants, and (a few levels deep) what its closure holds:
        # a wrapper around a phasic model is identified by the model's graph arrays.
        h.update(code.co_code)
        h.update(repr(code.co_consts).encode())
        if depth > 0:
            for cell in getattr(obj, "__closure__", None) or ():
                try:
                    _update(h, cell.cell_contents, depth - 1)
                except ValueError:  # an empty cell
                    h.update(b"<empty>")
        return
    h.update(type(obj).__qualname__.encode())


def identity(*objs: Any) -> str:
    """A short hex digest of data arrays, settings, and functions (code, constants, closures)."""
    h = hashlib.sha1()
    for obj in objs:
        _update(h, obj, depth=3)
        h.update(b"|")
    return h.hexdigest()[:20]
