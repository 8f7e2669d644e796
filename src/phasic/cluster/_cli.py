"""The ``phasic`` command line: SLURM job scripts from profiles or YAML files.

phasic slurm generate --profile medium --script run.py [--output submit.sh]
phasic slurm generate --config my_cluster.yaml --script run.py
phasic slurm list-profiles          (or: phasic slurm --list-profiles)
phasic slurm validate my_cluster.yaml
phasic slurm suggest --particles 640
"""

from __future__ import annotations

import argparse
import sys

from .._atomic import atomic_write
from .._errors import ParameterError
from ._config import PROFILES, get_profile, load_config
from ._script import generate_script, suggest_layouts

__all__ = ["legacy_main", "main"]


def _list_profiles() -> str:
    rows = [f"{'profile':<12} {'nodes':>5} {'cpus/node':>9} {'devices':>7} {'time':>9}  gpus"]
    for name, c in PROFILES.items():
        rows.append(
            f"{name:<12} {c.nodes:>5} {c.cpus_per_node:>9} {c.total_devices:>7} "
            f"{c.time_limit:>9}  {c.gpus_per_node}"
        )
    return "\n".join(rows)


def _generate(args) -> int:
    if args.list_profiles:
        print(_list_profiles())
        return 0
    if bool(args.profile) == bool(args.config):
        raise ParameterError("give exactly one of --profile NAME or --config FILE")
    if not args.script:
        raise ParameterError("--script is required: the Python script the job runs")
    cfg = get_profile(args.profile) if args.profile else load_config(args.config)
    text = generate_script(cfg, args.script, args.script_args)
    if args.output:
        with atomic_write(args.output, mode=0o755, overwrite=args.force) as fh:
            fh.write(text)
        print(
            f"wrote {args.output}: {cfg.nodes} node(s) x {cfg.cpus_per_node} CPUs = "
            f"{cfg.total_devices} devices; submit with: sbatch {args.output}",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(text)
    return 0


def _add_generate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", choices=sorted(PROFILES), help="a built-in profile")
    p.add_argument("--config", help="a YAML file with ClusterConfig keys")
    p.add_argument("--script", help="the Python script to run")
    p.add_argument("--output", help="write here instead of stdout (an existing file needs --force)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --output")
    p.add_argument("--list-profiles", action="store_true", help="list the built-in profiles")
    p.add_argument("script_args", nargs="*", help="arguments passed to the script")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="phasic", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="command", required=True)
    slurm = sub.add_parser("slurm", help="SLURM job scripts")
    slurm.add_argument("--list-profiles", action="store_true", help="list the built-in profiles")
    ssub = slurm.add_subparsers(dest="action")
    gen = ssub.add_parser("generate", help="write an sbatch script")
    _add_generate_args(gen)
    ssub.add_parser("list-profiles", help="list the built-in profiles")
    val = ssub.add_parser("validate", help="check a YAML configuration")
    val.add_argument("config")
    sug = ssub.add_parser("suggest", help="layouts whose device count divides the particles")
    sug.add_argument("--particles", type=int, required=True)
    sug.add_argument("--max-nodes", type=int, default=16)
    args = ap.parse_args(argv)
    try:
        if args.list_profiles or args.action == "list-profiles":
            print(_list_profiles())
            return 0
        if args.action == "generate":
            return _generate(args)
        if args.action == "validate":
            cfg = load_config(args.config)
            print(f"{args.config}: valid ({cfg.nodes} node(s) x {cfg.cpus_per_node} CPUs)")
            return 0
        if args.action == "suggest":
            if args.particles < 1:
                raise ParameterError(f"--particles {args.particles} must be >= 1")
            rows = suggest_layouts(args.particles, args.max_nodes)
            if not rows:
                print(f"no layout up to {args.max_nodes} nodes divides {args.particles} particles")
                return 1
            print(f"{'nodes':>5} {'cpus/node':>9} {'devices':>7} {'particles/device':>16}")
            for nodes, cpus, per in rows[:15]:
                print(f"{nodes:>5} {cpus:>9} {nodes * cpus:>7} {per:>16}")
            return 0
        slurm.print_help()
        return 2
    except ParameterError as exc:
        print(f"phasic: error: {exc}", file=sys.stderr)
        return 2


def legacy_main(argv: list[str] | None = None) -> int:
    """``python generate_slurm_script.py --profile ... --script ... [--output ...]`` (seed)."""
    ap = argparse.ArgumentParser(
        prog="generate_slurm_script.py",
        description="Generate a SLURM job script (see `phasic slurm`).",
    )
    _add_generate_args(ap)
    args = ap.parse_args(argv)
    try:
        return _generate(args)
    except ParameterError as exc:
        print(f"generate_slurm_script.py: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
