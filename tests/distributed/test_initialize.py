"""initialize_distributed, SLURM variables and hostlists; import has no side effects."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from phasic import ParameterError
from phasic.distributed import expand_hostlist, slurm_layout


@pytest.mark.parametrize(
    "expr,hosts",
    [
        ("node[01-04,07]", ["node01", "node02", "node03", "node04", "node07"]),
        ("a[1-2],b3", ["a1", "a2", "b3"]),
        ("node[08-11]", ["node08", "node09", "node10", "node11"]),
        ("rack[1-2]-node[01-02]", ["rack1-node01", "rack1-node02", "rack2-node01", "rack2-node02"]),
        ("localhost", ["localhost"]),
        ("gpu[9-10],cpu[001-002]", ["gpu9", "gpu10", "cpu001", "cpu002"]),
    ],
)
def test_hostlist_expansion(expr, hosts):
    assert expand_hostlist(expr) == hosts


@pytest.mark.parametrize("bad", ["node[01-", "node]1[", "node[a-b]", "node[5-2]", ""])
def test_bad_hostlists_are_errors(bad):
    with pytest.raises(ParameterError):
        expand_hostlist(bad)


def test_slurm_layout_from_environment():
    env = {
        "SLURM_JOB_ID": "77",
        "SLURM_NTASKS": "4",
        "SLURM_PROCID": "2",
        "SLURM_CPUS_PER_TASK": "8",
        "SLURM_JOB_NODELIST": "rack[1-2]-node[01-02]",
    }
    assert slurm_layout(env, coordinator_port=5555) == ("77", 2, 4, 8, "rack1-node01:5555")
    assert slurm_layout({}) is None
    with pytest.raises(ParameterError, match="SLURM_PROCID=4 with SLURM_NTASKS=4"):
        slurm_layout(dict(env, SLURM_PROCID="4"))
    with pytest.raises(ParameterError, match="not an integer"):
        slurm_layout(dict(env, SLURM_NTASKS="many"))
    with pytest.raises(ParameterError, match="no SLURM_JOB_NODELIST"):
        slurm_layout({k: v for k, v in env.items() if k != "SLURM_JOB_NODELIST"})


def _run(code: str, env=None) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "XLA_FLAGS"))}
    e.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=e, timeout=120
    )


def test_local_initialization_uses_the_cpus_of_this_process():
    r = _run(
        "import json, os, jax\n"
        "from phasic import initialize_distributed\n"
        "c = initialize_distributed()\n"
        "c2 = initialize_distributed()\n"
        "print(json.dumps([c.local_device_count, c.global_device_count, len(jax.devices()),"
        " c.num_processes, c.is_coordinator, c is c2, len(os.sched_getaffinity(0)),"
        " bool(jax.config.jax_enable_x64)]))"
    )
    assert r.returncode == 0, r.stderr
    local, glob, seen, nproc, coord, same, cpus, x64 = json.loads(r.stdout.strip().splitlines()[-1])
    assert local == glob == seen == cpus and nproc == 1 and coord and same and x64


def test_single_task_slurm_job_uses_cpus_per_task():
    r = _run(
        "import json\nfrom phasic import initialize_distributed\nc = initialize_distributed()\n"
        "print(json.dumps([c.job_id, c.local_device_count, c.coordinator_address]))",
        env={
            "SLURM_JOB_ID": "5",
            "SLURM_NTASKS": "1",
            "SLURM_PROCID": "0",
            "SLURM_CPUS_PER_TASK": "3",
            "SLURM_JOB_NODELIST": "localhost",
        },
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == ["5", 3, None]


def test_too_late_is_a_clear_error():
    r = _run(
        "import jax, jax.numpy as jnp\njnp.ones(2).block_until_ready()\n"
        "from phasic import initialize_distributed\n"
        "initialize_distributed(cpus_per_task=2)"
    )
    assert r.returncode != 0
    assert "already started with 1 CPU device(s)" in r.stderr
    assert "before any JAX computation" in r.stderr


def test_importing_phasic_changes_no_global_state():
    r = _run(
        "import sys, os, jax\n"
        "before = (dict(os.environ), jax.config.jax_enable_x64, sys.stdout)\n"
        "import phasic, phasic.jax, phasic.inference, phasic.distributed\n"
        "after = (dict(os.environ), jax.config.jax_enable_x64, sys.stdout)\n"
        "from jax._src import xla_bridge\n"
        "print(before == after, bool(xla_bridge._backends))"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "False"]


def _rank(rank: int, port: int, timeout: int = 2) -> subprocess.CompletedProcess:
    """``initialize_distributed`` as one rank of a two-task SLURM-like job on localhost."""
    return _run(
        "from phasic import initialize_distributed\n"
        f"initialize_distributed(coordinator_port={port}, timeout={timeout})",
        env={
            "SLURM_JOB_ID": "9",
            "SLURM_NTASKS": "2",
            "SLURM_PROCID": str(rank),
            "SLURM_CPUS_PER_TASK": "1",
            "SLURM_JOB_NODELIST": "localhost",
        },
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_missing_coordinator_is_a_clear_error_not_an_abort():
    r = _rank(1, _free_port())
    assert r.returncode == 1, r.stderr[-2000:]
    assert "process 1 found no phasic coordinator at localhost:" in r.stderr
    assert "within 2 s" in r.stderr


def test_a_peer_that_never_starts_is_a_clear_error_not_an_abort():
    """Issue 14 item 12: rank 0 of 2 alone was aborted (SIGABRT) by JAX's service."""
    r = _rank(0, _free_port())
    assert r.returncode == 1, r.stderr[-2000:]  # an exception, not -6
    assert "process(es) 1 of 2 never checked in" in r.stderr


def test_another_program_on_the_port_is_a_clear_error_not_an_abort():
    """Issue 14 item 12: a port taken by another program aborted rank 0; rank 1 took the stranger
    for the coordinator."""
    with socket.socket() as stranger:
        stranger.bind(("", 0))
        stranger.listen()
        port = stranger.getsockname()[1]
        r0, r1 = _rank(0, port), _rank(1, port)
    assert r0.returncode == 1, r0.stderr[-2000:]
    assert f"process 0 cannot listen on coordinator port {port}" in r0.stderr
    assert r1.returncode == 1, r1.stderr[-2000:]
    assert f"process 1 found no phasic coordinator at localhost:{port}" in r1.stderr


def test_missing_ranks_are_named_briefly():
    from phasic.distributed._rendezvous import _ranges

    assert _ranges([1, 2, 3, 7, 9, 10]) == "1-3, 7, 9-10"
    assert _ranges([5]) == "5"


@pytest.mark.parametrize(
    "env, match",
    [
        ({"SLURM_NTASKS": "0"}, "SLURM_NTASKS='0' must be >= 1"),
        ({"SLURM_PROCID": ""}, "SLURM_PROCID='' is not an integer"),
        ({"SLURM_PROCID": "-1"}, "SLURM_PROCID='-1' must be >= 0"),
        ({"SLURM_CPUS_PER_TASK": "0"}, "SLURM_CPUS_PER_TASK='0' must be >= 1"),
    ],
)
def test_bad_slurm_variables_are_named(env, match):
    """Issue 14 item 16: SLURM_NTASKS=0 was read as 1 and an empty SLURM_PROCID as 0."""
    from phasic.distributed import slurm_layout

    base = {"SLURM_JOB_ID": "1", "SLURM_NTASKS": "1", "SLURM_PROCID": "0"}
    with pytest.raises(ParameterError, match=match):
        slurm_layout({**base, **env})


def test_bad_coordinator_port_is_named(monkeypatch):
    from phasic.distributed import _init

    monkeypatch.setattr(_init, "_CONFIG", None)
    monkeypatch.setenv("PHASIC_COORDINATOR_PORT", "abc")
    with pytest.raises(ParameterError, match="PHASIC_COORDINATOR_PORT='abc'"):
        _init.initialize_distributed()
    monkeypatch.delenv("PHASIC_COORDINATOR_PORT")
    with pytest.raises(ParameterError, match="1024..65535"):
        _init.initialize_distributed(coordinator_port=80)
