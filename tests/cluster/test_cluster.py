"""Cluster configurations, profiles, YAML validation, job scripts and the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from phasic import ParameterError
from phasic.cluster import PROFILES, ClusterConfig, generate_script, load_config, suggest_layouts
from phasic.cluster._cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_profiles_have_the_seed_sizes():
    sizes = {k: (v.nodes, v.cpus_per_node) for k, v in PROFILES.items()}
    assert sizes["debug"] == (1, 4) and sizes["small"] == (2, 8)
    assert sizes["medium"] == (4, 16) and sizes["large"] == (8, 16)
    assert sizes["production"] == (8, 32)
    assert PROFILES["gpu"].gpus_per_node > 0
    assert PROFILES["debug"].time_limit == "00:30:00"


def test_seed_yaml_is_valid_and_gives_a_script(tmp_path):
    y = tmp_path / "my_cluster.yaml"
    y.write_text(
        'name: my_cluster\nnodes: 4\ncpus_per_node: 24\nmemory_per_cpu: "8G"\n'
        'time_limit: "03:00:00"\npartition: "compute"\nmodules_to_load:\n'
        '  - "python/3.11"\n  - "gcc/11.2.0"\nenv_vars:\n  JAX_ENABLE_X64: "1"\n'
    )
    cfg = load_config(y)
    text = generate_script(cfg, "run.py", ["--fast"])
    for line in [
        "#SBATCH --nodes=4",
        "#SBATCH --ntasks-per-node=1",
        "#SBATCH --cpus-per-task=24",
        "#SBATCH --mem-per-cpu=8G",
        "#SBATCH --time=03:00:00",
        "#SBATCH --partition=compute",
        "mkdir -p logs",
        "module load python/3.11",
        "module load gcc/11.2.0",
        "export JAX_ENABLE_X64=1",
        "python run.py --fast",
        "exit $rc",
    ]:
        assert line in text, line
    assert text.startswith("#!/bin/bash\n")
    r = subprocess.run(["bash", "-n"], input=text, text=True, capture_output=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize(
    "content,match",
    [
        ("name: x\nnodes: 0\ncpus_per_node: 4\n", r"nodes = 0"),
        ("name: x\nnodes: 1\ncpus_per_node: 4\ncpus: 3\n", r"unknown key 'cpus'"),
        ("name: x\nnodes: 1\ncpus_per_node: 4\nmemory_per_cpu: lots\n", r"memory_per_cpu = 'lots'"),
        ("name: x\nnodes: 1\ncpus_per_node: 4\ntime_limit: soon\n", r"time_limit = 'soon'"),
        ("name: x\nnodes: 1\ncpus_per_node: 4\nenvironment: docker\n", r"environment = 'docker'"),
        ("name: x\nnodes: 1\ncpus_per_node: 3\ntasks_per_node: 2\n", "not divisible"),
        ("name: x\nnodes: 1\ncpus_per_node: 4\nextra_sbatch_options: [exclusive]\n", "'--option'"),
        ("- just\n- a list\n", "mapping"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_configs_name_the_key_and_value(tmp_path, content, match):
    y = tmp_path / "bad.yaml"
    y.write_text(content)
    with pytest.raises(ParameterError, match=match):
        load_config(y)


def test_cli_generate_validate_suggest(tmp_path, capsys):
    out = tmp_path / "submit.sh"
    assert (
        main(["slurm", "generate", "--profile", "medium", "--script", "x.py", "--output", str(out)])
        == 0
    )
    assert "#SBATCH --nodes=4" in out.read_text()
    assert main(["slurm", "generate", "--profile", "small", "--script", "x.py"]) == 0
    assert "#SBATCH --cpus-per-task=8" in capsys.readouterr().out
    assert main(["slurm", "--list-profiles"]) == 0
    assert "production" in capsys.readouterr().out
    y = tmp_path / "c.yaml"
    y.write_text("name: c\nnodes: 2\ncpus_per_node: 8\n")
    assert main(["slurm", "validate", str(y)]) == 0
    y.write_text("name: c\nnodes: 2\ncpus_per_node: 8\nnode: 3\n")
    assert main(["slurm", "validate", str(y)]) == 2
    assert "unknown key 'node'" in capsys.readouterr().err
    assert main(["slurm", "suggest", "--particles", "640"]) == 0
    assert main(["slurm", "generate", "--script", "x.py"]) == 2


def test_suggestions_divide_the_particles():
    rows = suggest_layouts(96)
    assert rows and all(96 % (n * c) == 0 and n * c * per == 96 for n, c, per in rows)


def test_seed_spelling_from_the_project_root(tmp_path):
    out = tmp_path / "submit.sh"
    r = subprocess.run(
        [
            sys.executable,
            "generate_slurm_script.py",
            "--profile",
            "medium",
            "--script",
            "guide.py",
            "--output",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "srun" in out.read_text()
    r = subprocess.run(
        [sys.executable, "generate_slurm_script.py", "--profile", "debug", "--script", "g.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.stdout.startswith("#!/bin/bash")  # stdout, so `sbatch <(...)` works


def test_config_object_validation():
    with pytest.raises(Exception, match="coordinator_port"):
        ClusterConfig(name="x", nodes=1, cpus_per_node=1, coordinator_port=80)
