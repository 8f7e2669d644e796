"""SLURM hostlist expansion (``node[01-04,07],gpu3``, ``rack[1-2]-node[01-02]``), no scontrol."""

from __future__ import annotations

import itertools
import re

from .._errors import ParameterError

__all__ = ["expand_hostlist"]


def _split_top(s: str) -> list[str]:
    out, depth, cur = [], 0, []
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


def _expand_range(body: str, whole: str) -> list[str]:
    items = []
    for part in body.split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part.strip())
        if not m:
            raise ParameterError(f"bad range {part!r} in hostlist {whole!r}")
        a, b = m.group(1), m.group(2)
        if b is None:
            items.append(a)
            continue
        if int(b) < int(a):
            raise ParameterError(f"descending range {part!r} in hostlist {whole!r}")
        width = len(a)
        items.extend(str(i).zfill(width) for i in range(int(a), int(b) + 1))
    return items


def expand_hostlist(hostlist: str) -> list[str]:
    """Expand a SLURM hostlist expression into host names, in order.

    Examples
    --------
    >>> expand_hostlist("node[01-03,07],gpu3")
    ['node01', 'node02', 'node03', 'node07', 'gpu3']
    >>> expand_hostlist("rack[1-2]-n[1-2]")
    ['rack1-n1', 'rack1-n2', 'rack2-n1', 'rack2-n2']
    """
    if not hostlist or not hostlist.strip():
        raise ParameterError("empty hostlist")
    hosts: list[str] = []
    for item in _split_top(hostlist.strip()):
        pieces = re.split(r"(\[[^\]]*\])", item)
        choices = []
        for piece in pieces:
            if piece.startswith("["):
                choices.append(_expand_range(piece[1:-1], hostlist))
            elif piece:
                if "[" in piece or "]" in piece:
                    raise ParameterError(f"bad hostlist {hostlist!r}")
                choices.append([piece])
        hosts.extend("".join(c) for c in itertools.product(*choices))
    return hosts
