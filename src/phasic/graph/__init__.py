"""The graph layer: phase-type models as state-space graphs, compiled to kernel-ready arrays."""

from ._arrays import GraphArrays
from ._graph import Edge, Graph, Vertex
from ._numerics import MomentGradients
from ._transform import MatrixRepresentation

__all__ = ["Edge", "Graph", "GraphArrays", "MatrixRepresentation", "MomentGradients", "Vertex"]
