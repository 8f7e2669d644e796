"""The one exception hierarchy of phasic: every error names the bad value and the fix."""

from __future__ import annotations

__all__ = [
    "PhasicError",
    "GraphError",
    "ParameterError",
    "AbsorptionError",
    "VertexNotFoundError",
]


class PhasicError(Exception):
    """Base class of every error raised by phasic."""


class GraphError(PhasicError, ValueError):
    """A graph (callback result, state, edge, matrix) is malformed."""


class ParameterError(PhasicError, ValueError):
    """A parameter vector θ, reward vector or other numeric argument is invalid."""


class AbsorptionError(PhasicError, ValueError):
    """Absorption cannot be reached, so the requested quantity is infinite."""


class VertexNotFoundError(PhasicError, KeyError):
    """No vertex has the requested state."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""
