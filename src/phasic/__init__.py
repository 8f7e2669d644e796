"""phasic: phase-type distributions from state-space graphs.

Build a Markov model from rules (`Graph`), get its exact moments, densities and gradients from
native kernels, and fit its parameters. Importing phasic changes no global state.
"""

from . import models
from ._errors import AbsorptionError, GraphError, ParameterError, PhasicError, VertexNotFoundError
from .distributed import DistributedConfig, initialize_distributed
from .graph import (
    Edge,
    Graph,
    GraphArrays,
    MatrixRepresentation,
    MomentGradients,
    Transitions,
    Vertex,
)
from .inference import NUTS, SVGD

__version__ = "0.1.0"

__all__ = [
    "NUTS",
    "SVGD",
    "AbsorptionError",
    "DistributedConfig",
    "Edge",
    "Graph",
    "GraphArrays",
    "GraphError",
    "MatrixRepresentation",
    "MomentGradients",
    "ParameterError",
    "PhasicError",
    "Transitions",
    "Vertex",
    "VertexNotFoundError",
    "initialize_distributed",
    "models",
]
