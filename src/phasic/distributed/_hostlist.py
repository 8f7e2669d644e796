"""SLURM hostlist expansion (``node[01-04,07],gpu3``, ``rack[1-2]-node[01-02]``), no scontrol."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

from .._errors import ParameterError

__all__ = ["expand_hostlist", "iter_hostlist"]


def _split_top(s: str) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in s:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise ParameterError(f"unbalanced ']' in hostlist {s!r}")
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise ParameterError(f"unbalanced '[' in hostlist {s!r}")
    out.append("".join(cur))
    return [p for p in out if p]


class _Numbers:
    """The host numbers of one bracket (``01-04,07``), re-iterable and never materialized."""

    def __init__(self, body: str, whole: str) -> None:
        self.parts: list[tuple[int, int, int]] = []
        for part in body.split(","):
            m = re.fullmatch(r"(\d+)(?:-(\d+))?", part.strip())
            if not m:
                raise ParameterError(f"bad range {part!r} in hostlist {whole!r}")
            a, b = m.group(1), m.group(2) or m.group(1)
            if int(b) < int(a):
                raise ParameterError(f"descending range {part!r} in hostlist {whole!r}")
            self.parts.append((int(a), int(b), len(a)))

    def __iter__(self) -> Iterator[str]:
        for a, b, width in self.parts:
            for i in range(a, b + 1):
                yield str(i).zfill(width)


def _product(choices: list) -> Iterator[str]:
    if not choices:
        yield ""
        return
    for head in choices[0]:
        for tail in _product(choices[1:]):
            yield head + tail


def iter_hostlist(hostlist: str) -> Iterator[str]:
    """Host names of a SLURM hostlist expression, in order, generated lazily (the expression is
    checked whole first): ``next(iter_hostlist("node[0-9999999999]"))`` costs nothing."""
    if not hostlist or not hostlist.strip():
        raise ParameterError("empty hostlist")
    items = []
    for item in _split_top(hostlist.strip()):
        choices: list = []
        for piece in re.split(r"(\[[^\]]*\])", item):
            if piece.startswith("["):
                choices.append(_Numbers(piece[1:-1], hostlist))
            elif piece:
                if "[" in piece or "]" in piece:
                    raise ParameterError(f"bad hostlist {hostlist!r}")
                choices.append([piece])
        items.append(choices)
    for choices in items:
        yield from _product(choices)


def expand_hostlist(hostlist: str, limit: int = 1_000_000) -> list[str]:
    """Expand a SLURM hostlist expression into host names, in order.

    More than ``limit`` hosts is an error (``iter_hostlist`` generates them lazily).

    Examples
    --------
    >>> expand_hostlist("node[01-03,07],gpu3")
    ['node01', 'node02', 'node03', 'node07', 'gpu3']
    >>> expand_hostlist("rack[1-2]-n[1-2]")
    ['rack1-n1', 'rack1-n2', 'rack2-n1', 'rack2-n2']
    """
    hosts = list(itertools.islice(iter_hostlist(hostlist), limit + 1))
    if len(hosts) > limit:
        raise ParameterError(
            f"hostlist {hostlist[:80]!r} names more than {limit} hosts; use iter_hostlist to "
            "walk it lazily"
        )
    return hosts
