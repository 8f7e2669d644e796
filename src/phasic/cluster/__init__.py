"""SLURM job scripts from validated cluster configurations (profiles or YAML)."""

from ._config import PROFILES, ClusterConfig, get_profile, load_config
from ._script import generate_script, suggest_layouts

__all__ = [
    "PROFILES",
    "ClusterConfig",
    "generate_script",
    "get_profile",
    "load_config",
    "suggest_layouts",
]
