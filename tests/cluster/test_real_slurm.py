"""A real single-node SLURM runs a generated 2-task job: initialize_distributed forms one JAX
cluster of two processes and a distributed SVGD gives the single-process answer.

CI (CI=true, root) starts SLURM with ../shared/slurm/start_local_slurm.sh; elsewhere the test
skips unless PHASIC_TEST_SLURM=1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from phasic.cluster import generate_script
from phasic.cluster._config import make_config

ROOT = Path(__file__).resolve().parents[2]
START = ROOT.parent / "shared" / "slurm" / "start_local_slurm.sh"

JOB = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {tests!r})
    from phasic import initialize_distributed, SVGD, Graph
    cfg = initialize_distributed(timeout=120)
    import jax.numpy as jnp, numpy as np
    from reference_models import kingman
    model = Graph.pmf_from_graph(kingman(5))
    t = jnp.linspace(0.1, 3.0, 12)
    obs = model(jnp.array([1.3]), t) + 0.02 * np.random.default_rng(1).normal(size=12)
    init = np.random.default_rng(7).uniform(0.5, 2.0, size=(8, 1))
    s = SVGD(lambda th: model(th, t), obs, theta_init=init, n_iterations=60,
             learning_rate=0.02, noise_scale=0.02, verbose=False, block_size=20).fit()
    print("RESULT", json.dumps(dict(pid=cfg.process_id, n=cfg.num_processes, job=cfg.job_id,
          devices=cfg.global_device_count, coordinator=cfg.is_coordinator,
          particles=s.particles.ravel().tolist())), flush=True)
    """
)


def _slurm_ready() -> str | None:
    wanted = os.environ.get("CI") == "true" or os.environ.get("PHASIC_TEST_SLURM") == "1"
    if not wanted:
        return "a real SLURM runs in CI (CI=true) or with PHASIC_TEST_SLURM=1"
    if os.geteuid() != 0 or not START.exists():
        return f"needs root and {START}"
    r = subprocess.run(["bash", str(START)], capture_output=True, text=True, timeout=600)
    if r.returncode != 0 or not shutil.which("sbatch"):
        return f"could not start SLURM: {r.stdout[-500:]} {r.stderr[-500:]}"
    return None


@pytest.mark.slow
def test_two_task_job_runs_distributed_svgd(tmp_path):
    reason = _slurm_ready()
    if reason:
        pytest.skip(reason)
    tests = str(ROOT / "tests")
    (tmp_path / "job.py").write_text(JOB.format(tests=tests))
    cfg = make_config(
        dict(
            name="phasic-test",
            nodes=1,
            cpus_per_node=2,
            tasks_per_node=2,
            memory_per_cpu="1G",
            time_limit="00:10:00",
            partition="debug",
            environment="venv",
            environment_path=str(Path(sys.executable).parents[1]),
            coordinator_port=23456,
            env_vars={"PYTHONUNBUFFERED": "1"},
        )
    )
    script = tmp_path / "submit.sh"
    script.write_text(generate_script(cfg, "job.py"))
    (tmp_path / "logs").mkdir()
    r = subprocess.run(
        ["sbatch", "--parsable", "--wait", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=420,
    )
    job_id = r.stdout.strip().split(";")[0]
    out = tmp_path / "logs" / f"job_{job_id}.out"
    log = out.read_text() if out.exists() else ""
    err = tmp_path / "logs" / f"job_{job_id}.err"
    assert r.returncode == 0, (
        r.stderr,
        log[-2000:],
        err.read_text()[-3000:] if err.exists() else "",
    )
    assert f"phasic job {job_id} finished with exit code 0" in log
    results = [json.loads(ln[7:]) for ln in log.splitlines() if ln.startswith("RESULT ")]
    assert sorted(x["pid"] for x in results) == [0, 1]
    assert all(x["n"] == 2 and x["devices"] == 2 and x["job"] == job_id for x in results)
    np.testing.assert_array_equal(results[0]["particles"], results[1]["particles"])

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "XLA_FLAGS"))}
    env.update(
        SLURM_JOB_ID="1",
        SLURM_NTASKS="1",
        SLURM_PROCID="0",
        SLURM_CPUS_PER_TASK="2",
        SLURM_JOB_NODELIST="localhost",
    )
    single = subprocess.run(
        [sys.executable, str(tmp_path / "job.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert single.returncode == 0, single.stderr[-2000:]
    ref = json.loads([ln for ln in single.stdout.splitlines() if ln.startswith("RESULT ")][0][7:])
    np.testing.assert_allclose(results[0]["particles"], ref["particles"], rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_seed_walkthrough_as_a_two_task_job_gives_the_local_posterior(tmp_path):
    reason = _slurm_ready()
    if reason:
        pytest.skip(reason)
    examples = ROOT / "examples"
    for name in ("seed_tutorial.py", "_save_figures.py"):
        shutil.copy(examples / name, tmp_path / name)
    cfg = make_config(
        dict(
            name="phasic-seed",
            nodes=1,
            cpus_per_node=2,
            tasks_per_node=2,
            memory_per_cpu="2G",
            time_limit="00:15:00",
            partition="debug",
            environment="venv",
            environment_path=str(Path(sys.executable).parents[1]),
            env_vars={"MPLBACKEND": "module://_save_figures", "PYTHONUNBUFFERED": "1"},
        )
    )
    (tmp_path / "submit.sh").write_text(generate_script(cfg, "seed_tutorial.py"))
    (tmp_path / "logs").mkdir()
    r = subprocess.run(
        ["sbatch", "--parsable", "--wait", "submit.sh"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    job_id = r.stdout.strip().split(";")[0]
    log = (tmp_path / "logs" / f"job_{job_id}.out").read_text()
    assert r.returncode == 0, log[-3000:]
    assert log.count("Posterior Analysis") == 1  # printed once, by the coordinator
    assert "Process rank: 1 of 2" in log and "Process rank: 0 of 2" in log
    assert f"Job ID: {job_id}" in log
    slurm_mean = re.search(r"Posterior mean:\s+([\d.]+)", log).group(1)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "XLA_FLAGS"))}
    env.update(MPLBACKEND="module://_save_figures", PHASIC_FIGURE_DIR=str(tmp_path / "local"))
    local = subprocess.run(
        [sys.executable, "seed_tutorial.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert local.returncode == 0, local.stderr[-2000:]
    assert "Global devices: 2" in local.stdout
    assert re.search(r"Posterior mean:\s+([\d.]+)", local.stdout).group(1) == slurm_mean
