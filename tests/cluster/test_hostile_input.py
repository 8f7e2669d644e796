"""Hostile cluster input: shell injection through every field, planted temporary files, YAML alias
bombs and huge hostlists (issue 14, items 1-3). Each test failed before the fix."""

from __future__ import annotations

import os
import stat
import subprocess
import time

import pytest

from phasic import ParameterError
from phasic._atomic import atomic_write
from phasic.cluster import generate_script, load_config
from phasic.cluster._cli import main
from phasic.cluster._config import make_config
from phasic.distributed import expand_hostlist
from phasic.distributed._hostlist import iter_hostlist

PAYLOADS = [
    "$(touch PWNED)",
    "`touch PWNED`",
    '"; touch PWNED; echo "',
    "'; touch PWNED; echo '",
    "x; touch PWNED",
    "debug\ntouch PWNED",
    "x\rtouch PWNED",
    "${IFS}touch${IFS}PWNED",
]
BASE = {"name": "job", "nodes": 1, "cpus_per_node": 2}


def _configs(payload: str):
    """(field, config dict) with the payload in each field the shell sees."""
    yield "name", {**BASE, "name": payload}
    yield "partition", {**BASE, "partition": payload}
    yield "qos", {**BASE, "qos": payload}
    yield "memory_per_cpu", {**BASE, "memory_per_cpu": payload}
    yield "time_limit", {**BASE, "time_limit": payload}
    yield "modules_to_load", {**BASE, "modules_to_load": [payload]}
    yield "env_vars value", {**BASE, "env_vars": {"A": payload}}
    yield "env_vars key", {**BASE, "env_vars": {payload: "1"}}
    yield "extra_sbatch_options", {**BASE, "extra_sbatch_options": ["--comment=" + payload]}
    yield "environment_path (venv)", {**BASE, "environment_path": payload}
    yield "environment_path (conda)", {**BASE, "environment": "conda", "environment_path": payload}


@pytest.fixture
def fake_slurm(tmp_path):
    """A bin folder whose srun/sbatch/module/conda/pixi do nothing."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("srun", "sbatch", "module", "conda", "pixi"):
        f = bin_dir / tool
        f.write_text("#!/bin/sh\nexit 0\n")
        f.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize("payload", PAYLOADS)
def test_no_field_injects_a_command(payload, tmp_path, fake_slurm):
    for field, data in _configs(payload):
        try:
            cfg = make_config(data)
        except ParameterError:
            continue  # rejected with a clear error: fine
        assert not any(c in payload for c in "\n\r"), f"{field}: a control character was accepted"
        work = tmp_path / field.replace(" ", "_")
        work.mkdir()
        script = work / "job.sh"
        script.write_text(generate_script(cfg, payload, [payload]))
        env = {
            "PATH": f"{fake_slurm}:{os.environ['PATH']}",
            "SLURM_JOB_ID": "1",
            "SLURM_CPUS_PER_TASK": "2",
            "SLURM_SUBMIT_DIR": str(work),
            "HOME": str(work),
        }
        subprocess.run(["bash", str(script)], cwd=work, env=env, capture_output=True, timeout=30)
        assert not (work / "PWNED").exists(), f"{field} = {payload!r} ran a command"


def test_control_characters_and_trailing_newlines_are_rejected(tmp_path):
    for data in (
        {**BASE, "memory_per_cpu": "4G\n"},
        {**BASE, "time_limit": "01:00:00\n"},
        {**BASE, "env_vars": {"A\n": "1"}},
        {**BASE, "partition": "debug\ntouch PWNED"},
        {**BASE, "modules_to_load": ["gcc\nrm -rf x"]},
        {**BASE, "environment_path": "/opt/venv\n"},
    ):
        with pytest.raises(ParameterError):
            make_config(data)
    y = tmp_path / "c.yaml"
    y.write_text('name: j\nnodes: 1\ncpus_per_node: 2\npartition: "debug\\ntouch PWNED"\n')
    assert main(["slurm", "validate", str(y)]) == 2


def test_a_planted_temporary_file_is_never_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    victim.chmod(0o600)
    out = tmp_path / "submit.sh"
    (tmp_path / "submit.sh.tmp").symlink_to(victim)
    assert (
        main(
            ["slurm", "generate", "--profile", "debug", "--script", "run.py", "--output", str(out)]
        )
        == 0
    )
    assert victim.read_text() == "keep me"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600
    assert out.read_text().startswith("#!/bin/bash") and os.access(out, os.X_OK)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".submit.sh.")]


def test_an_existing_output_needs_force(tmp_path, capsys):
    out = tmp_path / "submit.sh"
    out.write_text("mine")
    args = ["slurm", "generate", "--profile", "debug", "--script", "run.py", "--output", str(out)]
    assert main(args) == 2
    assert "--force" in capsys.readouterr().err and out.read_text() == "mine"
    assert main([*args, "--force"]) == 0 and out.read_text().startswith("#!/bin/bash")


def test_atomic_write_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "ckpt.npz"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_write(target, binary=True) as fh:
        fh.write(b"partial")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [target]


def test_yaml_alias_bomb_is_reported_quickly(tmp_path):
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i, name in enumerate("bcdefghij"):
        prev = "abcdefghij"[i]
        lines.append(
            f"{name}: &{name} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]"
        )
    lines.append("name: j\nnodes: 1\ncpus_per_node: 2\nmodules_to_load: *j")
    y = tmp_path / "bomb.yaml"
    y.write_text("\n".join(lines) + "\n")
    t0 = time.perf_counter()
    with pytest.raises(ParameterError) as err:
        load_config(y)
    assert time.perf_counter() - t0 < 5
    assert len(str(err.value)) < 5000


def test_huge_hostlists_are_walked_lazily():
    t0 = time.perf_counter()
    assert next(iter_hostlist("node[0-9999999999]")) == "node0"
    assert list(iter_hostlist("n[08-10],gpu[1-2]")) == ["n08", "n09", "n10", "gpu1", "gpu2"]
    with pytest.raises(ParameterError, match="more than"):
        expand_hostlist("node[0-9999999999]")
    assert time.perf_counter() - t0 < 5
    with pytest.raises(ParameterError, match="descending"):
        next(iter_hostlist("node[5-1]"))


def test_gpu_profile_scripts_ask_for_the_gpus():
    from phasic.cluster import PROFILES

    gpu = generate_script(PROFILES["gpu"], "run.py")
    assert "export PHASIC_PLATFORM=gpu" in gpu and "= 4 JAX devices" in gpu
    assert "PHASIC_PLATFORM" not in generate_script(PROFILES["debug"], "run.py")


def test_a_bad_platform_from_the_environment_is_named(monkeypatch):
    from phasic.distributed import _init

    monkeypatch.setattr(_init, "_CONFIG", None)
    monkeypatch.setenv("PHASIC_PLATFORM", "quantum")
    with pytest.raises(ParameterError, match="quantum"):
        _init.initialize_distributed()


@pytest.mark.parametrize(
    "change",
    [
        {"nodes": "2"},
        {"nodes": True},
        {"cpus_per_node": 2.0},
        {"time_limit": "0"},
        {"time_limit": "00:00:00"},
        {"coordinator_port": "12345"},
    ],
)
def test_no_silent_coercion_of_numbers_or_zero_time(change):
    """Issue 14 item 16: "2" and true were coerced to numbers, and a zero time limit passed."""
    with pytest.raises(ParameterError):
        make_config({**BASE, **change})
