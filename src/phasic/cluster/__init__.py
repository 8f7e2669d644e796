"""SLURM job scripts from validated cluster configurations (profiles or YAML)."""

try:
    import pydantic  # noqa: F401
    import yaml  # noqa: F401
except ImportError as exc:
    raise ImportError(
        "phasic.cluster (job scripts, the `phasic slurm` command) needs pydantic and pyyaml: "
        "pip install 'phasic[cluster]'"
    ) from exc

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
