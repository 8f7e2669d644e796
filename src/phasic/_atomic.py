"""Atomic file writes that never follow a planted temporary file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import IO

from ._errors import ParameterError

__all__ = ["atomic_write"]


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike,
    *,
    binary: bool = False,
    mode: int | None = None,
    overwrite: bool = True,
) -> Iterator[IO]:
    """Write ``path`` through a fresh temporary file in the same folder, then rename it.

    The temporary file is created exclusively under a random name (``tempfile.mkstemp``), so a
    symlink planted at a predictable ``<path>.tmp`` is never followed; ``mode`` is applied to
    that new file only. With ``overwrite=False`` an existing ``path`` is an error. The data is
    flushed to disk before the rename; on any error the temporary file is removed.
    """
    path = os.fspath(path)
    if not overwrite and os.path.lexists(path):
        raise ParameterError(f"{path} exists; pass --force to overwrite it")
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
