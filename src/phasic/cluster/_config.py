"""`ClusterConfig`: a validated SLURM job description, built-in profiles and YAML files."""

from __future__ import annotations

import os
import re
import reprlib
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .._errors import ParameterError

__all__ = ["PROFILES", "ClusterConfig", "get_profile", "load_config"]

# Every pattern is used with fullmatch: `$` in re.match also matches before a trailing newline.
_MEM = re.compile(r"\d+(\.\d+)?[KMGT]?B?", re.IGNORECASE)
_TIME = re.compile(r"(\d+-)?\d{1,3}:\d{2}(:\d{2})?|\d+")
_SLURM_NAME = re.compile(r"[A-Za-z0-9_.,:+-]+")  # partition and QOS names (comma lists allowed)
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _strings(value) -> list[str]:
    """The strings of a field: itself, a list's items, or a mapping's keys and values."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for kv in value.items() for t in kv if isinstance(t, str)]
    if isinstance(value, list):
        return [t for t in value if isinstance(t, str)]
    return []


class ClusterConfig(BaseModel):
    """One SLURM job: nodes × CPUs, limits, environment. Unknown keys are errors.

    Attributes
    ----------
    name : job name
    nodes : number of nodes
    cpus_per_node : CPUs per node, shared by its tasks; each CPU is one JAX CPU device
    tasks_per_node : JAX processes per node (default 1: one process per node)
    memory_per_cpu : e.g. "4G"
    time_limit : "HH:MM:SS" or "D-HH:MM:SS"
    partition, qos : optional
    gpus_per_node : 0 for CPU jobs
    modules_to_load : ``module load`` lines
    env_vars : exported before the run
    extra_sbatch_options : raw ``#SBATCH`` options, each starting with "--"
    coordinator_port : port of the JAX coordinator on the first node
    environment : "venv", "conda", "pixi" or "none"; environment_path: the venv folder or conda env
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    nodes: int = Field(ge=1, strict=True)
    cpus_per_node: int = Field(ge=1, strict=True)
    tasks_per_node: int = Field(default=1, ge=1, strict=True)
    memory_per_cpu: str = "4G"
    time_limit: str = "01:00:00"
    partition: str | None = None
    qos: str | None = None
    gpus_per_node: int = Field(default=0, ge=0, strict=True)
    modules_to_load: list[str] = Field(default_factory=list)
    env_vars: dict[str, str] = Field(default_factory=dict)
    extra_sbatch_options: list[str] = Field(default_factory=list)
    coordinator_port: int = Field(default=12345, ge=1024, le=65535, strict=True)
    environment: Literal["venv", "conda", "pixi", "none"] = "venv"
    environment_path: str | None = None

    @field_validator("memory_per_cpu")
    @classmethod
    def _mem(cls, v: str) -> str:
        if not _MEM.fullmatch(v):
            raise ValueError(f"memory_per_cpu {v!r} must look like '4G', '500M' or '8GB'")
        return v

    @field_validator("time_limit")
    @classmethod
    def _time(cls, v: str) -> str:
        if not _TIME.fullmatch(v):
            raise ValueError(f"time_limit {v!r} must be 'HH:MM:SS', 'D-HH:MM:SS' or minutes")
        if not any(ch in "123456789" for ch in v):
            raise ValueError(f"time_limit {v!r} is zero; give the job some time")
        return v

    @field_validator("partition", "qos")
    @classmethod
    def _slurm_name(cls, v: str | None) -> str | None:
        if v is not None and not _SLURM_NAME.fullmatch(v):
            raise ValueError(
                f"{v!r} must be a SLURM name: letters, digits and _ . , : + - (no spaces or quotes)"
            )
        return v

    @field_validator("extra_sbatch_options")
    @classmethod
    def _extra(cls, v: list[str]) -> list[str]:
        for opt in v:
            if not opt.startswith("--"):
                raise ValueError(f"extra_sbatch_options entry {opt!r} must be one '--option'")
        return v

    @field_validator("env_vars")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        for k in v:
            if not _ENV_KEY.fullmatch(k):
                raise ValueError(f"env_vars key {k!r} is not a valid variable name")
        return {k: str(x) for k, x in v.items()}

    @model_validator(mode="after")
    def _no_control_characters(self) -> ClusterConfig:
        # Every value ends up in a shell script: a newline or other control character would
        # start a new command (or a new #SBATCH line) whatever the quoting.
        for key, value in self:
            for text in _strings(value):
                if _CONTROL.search(text):
                    raise ValueError(
                        f"{key} = {text!r} holds a control character (newline, tab...)"
                    )
        return self

    @model_validator(mode="after")
    def _tasks_divide_cpus(self) -> ClusterConfig:
        if self.cpus_per_node % self.tasks_per_node:
            raise ValueError(
                f"cpus_per_node = {self.cpus_per_node} is not divisible by tasks_per_node = "
                f"{self.tasks_per_node}"
            )
        return self

    @property
    def cpus_per_task(self) -> int:
        return self.cpus_per_node // self.tasks_per_node

    @property
    def total_devices(self) -> int:
        """JAX devices of the job: nodes × CPUs per node (× GPUs when gpus_per_node > 0)."""
        return self.nodes * (self.gpus_per_node or self.cpus_per_node)


PROFILES: dict[str, ClusterConfig] = {
    "debug": ClusterConfig(
        name="phasic-debug", nodes=1, cpus_per_node=4, time_limit="00:30:00", memory_per_cpu="2G"
    ),
    "small": ClusterConfig(name="phasic-small", nodes=2, cpus_per_node=8, time_limit="01:00:00"),
    "medium": ClusterConfig(name="phasic-medium", nodes=4, cpus_per_node=16, time_limit="02:00:00"),
    "large": ClusterConfig(name="phasic-large", nodes=8, cpus_per_node=16, time_limit="04:00:00"),
    "production": ClusterConfig(
        name="phasic-production", nodes=8, cpus_per_node=32, time_limit="08:00:00"
    ),
    "gpu": ClusterConfig(
        name="phasic-gpu",
        nodes=1,
        cpus_per_node=16,
        gpus_per_node=4,
        time_limit="04:00:00",
        memory_per_cpu="8G",
    ),
}


def _short(value) -> str:
    """repr of a bad value, bounded in size (a 400-byte YAML alias bomb expands to gigabytes)."""
    r = reprlib.Repr()
    r.maxlevel, r.maxstring, r.maxother = 2, 80, 80
    r.maxlist = r.maxdict = r.maxtuple = r.maxset = 4
    return r.repr(value)


def _short_msg(msg: str) -> str:
    return msg if len(msg) <= 300 else msg[:300] + "..."


def _explain(exc: ValidationError, source: str) -> ParameterError:
    errors = exc.errors(include_url=False)
    unknown = [".".join(map(str, e["loc"])) for e in errors if e["type"] == "extra_forbidden"]
    lines = []
    if unknown:
        names = ", ".join(repr(k[:40]) for k in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        word = "key" if len(unknown) == 1 else "keys"
        lines.append(
            f"unknown {word} {names}{more} (allowed: {', '.join(ClusterConfig.model_fields)})"
        )
    rest = [e for e in errors if e["type"] != "extra_forbidden"]
    for err in rest[:10]:
        where = ".".join(str(p) for p in err["loc"]) or "(config)"
        lines.append(f"{where} = {_short(err.get('input'))}: {_short_msg(err['msg'])}")
    if len(rest) > 10:
        lines.append(f"... and {len(rest) - 10} more")
    return ParameterError(f"invalid cluster configuration in {source}:\n  " + "\n  ".join(lines))


def make_config(data: dict, source: str = "arguments") -> ClusterConfig:
    try:
        return ClusterConfig(**data)
    except ValidationError as exc:
        raise _explain(exc, source) from None
    except TypeError as exc:
        raise ParameterError(f"invalid cluster configuration in {source}: {exc}") from None


def get_profile(name: str) -> ClusterConfig:
    if name not in PROFILES:
        raise ParameterError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    return PROFILES[name]


def load_config(path: str | os.PathLike) -> ClusterConfig:
    """Read and validate a YAML file with the keys of `ClusterConfig`."""
    import yaml

    try:
        with open(path) as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise ParameterError(f"cannot read cluster configuration {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ParameterError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ParameterError(f"{path} must hold a mapping of configuration keys")
    return make_config(data, str(path))
