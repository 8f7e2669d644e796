"""JAX bridges: differentiable densities and moments of a graph (XLA FFI on CPU, pure JAX elsewhere)."""

from ._bridge import moments_from_graph, pmf_and_moments_from_graph, pmf_from_graph

__all__ = ["moments_from_graph", "pmf_and_moments_from_graph", "pmf_from_graph"]
