"""JAX bridges: differentiable densities, moments and event counts of a graph (XLA FFI on CPU, pure JAX elsewhere)."""

from ._bridge import moments_from_graph, pmf_and_moments_from_graph, pmf_from_graph
from ._counts import counts_from_graph, laplace_transform_from_graph

__all__ = [
    "counts_from_graph",
    "laplace_transform_from_graph",
    "moments_from_graph",
    "pmf_and_moments_from_graph",
    "pmf_from_graph",
]
