"""`initialize_distributed`: one call that sets up JAX on a laptop or across a SLURM job."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .._errors import ParameterError, PhasicError
from ._hostlist import iter_hostlist
from ._rendezvous import roll_call

__all__ = ["DistributedConfig", "initialize_distributed"]

_CONFIG: DistributedConfig | None = None


@dataclass(frozen=True)
class DistributedConfig:
    """What `initialize_distributed` set up.

    Attributes
    ----------
    job_id : str or None
        SLURM job id (None when local).
    process_id, num_processes : int
    is_coordinator : bool
        True for process 0: the one that prints, shows progress and writes files.
    coordinator_address : str or None
        ``host:port`` of process 0 (None for a single process).
    local_device_count, global_device_count : int
    platform : str
    local_devices, global_devices : list
    """

    job_id: str | None
    process_id: int
    num_processes: int
    is_coordinator: bool
    coordinator_address: str | None
    local_device_count: int
    global_device_count: int
    platform: str
    local_devices: list = field(default_factory=list, repr=False)
    global_devices: list = field(default_factory=list, repr=False)


def _env_int(name: str, env, minimum: int = 1) -> int | None:
    """An integer SLURM/phasic variable (None when unset); set but empty, non-numeric or below
    ``minimum`` is an error naming it (an empty SLURM_PROCID is not rank 0)."""
    v = env.get(name)
    if v is None:
        return None
    m = v.split("(")[0]  # SLURM writes e.g. "2(x3)" for per-node counts
    try:
        out = int(m)
    except ValueError as exc:
        raise ParameterError(f"environment variable {name}={v!r} is not an integer") from exc
    if out < minimum:
        raise ParameterError(f"environment variable {name}={v!r} must be >= {minimum}")
    return out


def slurm_layout(
    env=None, coordinator_port: int = 12345, cpus_per_task: int | None = None
) -> tuple[str, int, int, int | None, str | None] | None:
    """(job_id, process_id, num_processes, cpus, coordinator_address) from SLURM variables."""
    env = os.environ if env is None else env
    job = env.get("SLURM_JOB_ID")
    if not job:
        return None
    ntasks = _env_int("SLURM_NTASKS", env)
    if ntasks is None:
        ntasks = _env_int("SLURM_NPROCS", env) or 1
    rank = _env_int("SLURM_PROCID", env, minimum=0)
    if rank is None:
        rank = 0
    if not 0 <= rank < ntasks:
        raise ParameterError(
            f"inconsistent SLURM variables: SLURM_PROCID={rank} with SLURM_NTASKS={ntasks}"
        )
    cpus = cpus_per_task or _env_int("SLURM_CPUS_PER_TASK", env)
    nodelist = (
        env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
    )
    coord = None
    if ntasks > 1:
        if not nodelist:
            raise ParameterError(
                "SLURM_NTASKS > 1 but no SLURM_JOB_NODELIST: run the script with srun inside the job"
            )
        coord = f"{next(iter_hostlist(nodelist))}:{coordinator_port}"  # only the first host
    return job, rank, ntasks, cpus, coord


def _backend_started() -> bool:
    try:
        from jax._src import xla_bridge

        return bool(getattr(xla_bridge, "_backends", {}))
    except Exception:  # noqa: BLE001 - private API moved: assume not started
        return False


def initialize_distributed(
    coordinator_port: int | None = None,
    platform: str | None = None,
    enable_x64: bool = True,
    cpus_per_task: int | None = None,
    timeout: int = 300,
) -> DistributedConfig:
    """Configure JAX for this machine or this SLURM job, once, before any JAX computation.

    Under SLURM (``SLURM_JOB_ID`` set) the rank, task count and CPUs per task come from the
    environment, the coordinator is the first node of the node list (parsed here, no
    ``scontrol``) at ``coordinator_port``, each process gets one CPU device per CPU of its task,
    and ``jax.distributed.initialize`` joins the processes. Locally, one CPU device per CPU this
    process may use. Calling it again returns the same configuration.

    ``platform`` defaults to ``$PHASIC_PLATFORM`` (job scripts for GPU profiles export
    ``gpu``), else ``"cpu"``.

    Before JAX's coordination service starts, the processes meet once over a plain socket on the
    coordinator port, so the faults that would make JAX abort the process (SIGABRT) are raised
    as exceptions instead: a task that never starts, or another program on the port.

    What cannot be caught: when a process dies *after* this call (killed, out of memory, node
    failure), JAX's service aborts the survivors once they miss its heartbeats (about 100 s),
    without Python cleanup. Give the sampler a ``checkpoint_path``: it writes after every block of
    iterations (``checkpoint_every``), and the resubmitted job resumes from the last one.

    Raises
    ------
    PhasicError
        When JAX's backend already started with another device count, the coordinator port is in
        use, or not every process of the job checks in within ``timeout`` seconds (the message
        names the missing ranks).
    ParameterError
        Inconsistent SLURM variables.
    """
    global _CONFIG
    import jax

    if _CONFIG is not None:
        return _CONFIG
    if coordinator_port is None:  # job scripts from `phasic slurm generate` export the port
        coordinator_port = _env_int("PHASIC_COORDINATOR_PORT", os.environ) or 12345
    if not (isinstance(coordinator_port, int) and 1024 <= coordinator_port <= 65535):
        raise ParameterError(
            f"coordinator_port = {coordinator_port!r} (argument or PHASIC_COORDINATOR_PORT) "
            "must be an integer in 1024..65535"
        )
    if platform is None:
        platform = os.environ.get("PHASIC_PLATFORM", "cpu")
    if platform not in ("cpu", "gpu", "cuda", "tpu"):
        raise ParameterError(
            f"platform = {platform!r} (argument or PHASIC_PLATFORM); choose 'cpu' or 'gpu'"
        )
    layout = slurm_layout(coordinator_port=coordinator_port, cpus_per_task=cpus_per_task)
    if layout is None:
        job, rank, nproc, coord = None, 0, 1, None
        cpus = cpus_per_task or len(os.sched_getaffinity(0))
    else:
        job, rank, nproc, slurm_cpus, coord = layout
        cpus = slurm_cpus or len(os.sched_getaffinity(0))
    if enable_x64:
        jax.config.update("jax_enable_x64", True)
    if platform == "cpu":
        if _backend_started():
            have = len(jax.local_devices())
            if have != cpus:
                raise PhasicError(
                    f"JAX's backend already started with {have} CPU device(s), but "
                    f"initialize_distributed wants {cpus}: call initialize_distributed() before "
                    "any JAX computation (at the top of the script, right after the imports)"
                )
        else:
            jax.config.update("jax_platforms", "cpu")
            jax.config.update("jax_num_cpu_devices", int(cpus))
            if nproc > 1:
                jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if nproc > 1:
        assert coord is not None  # slurm_layout names one whenever there are several tasks
        roll_call(coord, rank, nproc, job, timeout)
        try:
            jax.distributed.initialize(
                coordinator_address=coord,
                num_processes=nproc,
                process_id=rank,
                initialization_timeout=int(timeout),
            )
        except Exception as exc:
            raise PhasicError(
                f"process {rank} could not join the JAX cluster at {coord} within {timeout} s "
                f"({exc}); check that the coordinator node is reachable on port {coordinator_port} "
                "or choose another coordinator_port"
            ) from exc
    local, glob = jax.local_devices(), jax.devices()
    _CONFIG = DistributedConfig(
        job_id=job,
        process_id=jax.process_index(),
        num_processes=jax.process_count(),
        is_coordinator=jax.process_index() == 0,
        coordinator_address=coord,
        local_device_count=len(local),
        global_device_count=len(glob),
        platform=glob[0].platform,
        local_devices=list(local),
        global_devices=list(glob),
    )
    return _CONFIG
