"""Distributed set-up: JAX's multi-process runtime on SLURM or locally."""

from ._hostlist import expand_hostlist
from ._init import DistributedConfig, initialize_distributed, slurm_layout

__all__ = ["DistributedConfig", "expand_hostlist", "initialize_distributed", "slurm_layout"]
