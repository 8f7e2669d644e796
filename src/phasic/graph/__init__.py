"""The graph layer: phase-type models as state-space graphs, compiled to kernel-ready arrays.

`PhaseTypeModel` is the abstract base of the numerical methods; `Graph` (built from rules, editable)
and `FrozenGraph` (``Graph.symbolic_elimination()``: a compiled snapshot for parameter sweeps) are
its final subclasses. `Graph.compile()` gives the `GraphArrays` every kernel reads.
"""

from ._arrays import GraphArrays
from ._build import Transitions
from ._frozen import FrozenGraph
from ._graph import Edge, Graph, Vertex
from ._model import PhaseTypeModel
from ._moments import MomentGradients
from ._transform import MatrixRepresentation

__all__ = [
    "Edge",
    "FrozenGraph",
    "Graph",
    "GraphArrays",
    "MatrixRepresentation",
    "MomentGradients",
    "PhaseTypeModel",
    "Transitions",
    "Vertex",
]
