"""The graph layer: phase-type models as state-space graphs, compiled to kernel-ready arrays.

`Graph` inherits its numerical methods from `GraphNumerics` (moments, rewards, transforms,
sampling) and `GraphDistributions` (densities and probabilities); `CompiledGraph` has the same
methods on a frozen model.
"""

from ._arrays import GraphArrays
from ._compiled import CompiledGraph
from ._distributions import GraphDistributions
from ._graph import Edge, Graph, Vertex
from ._numerics import GraphNumerics, MomentGradients
from ._transform import MatrixRepresentation

__all__ = [
    "CompiledGraph",
    "Edge",
    "Graph",
    "GraphArrays",
    "GraphDistributions",
    "GraphNumerics",
    "MatrixRepresentation",
    "MomentGradients",
    "Vertex",
]
