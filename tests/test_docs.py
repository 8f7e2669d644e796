"""The API reference builds offline from the docstrings (pdoc) and covers the public API."""

from __future__ import annotations

import subprocess
import sys

import pytest

MODULES = [
    "phasic",
    "phasic.graph",
    "phasic.jax",
    "phasic.inference",
    "phasic.distributed",
    "phasic.cluster",
]


def test_api_reference_builds(tmp_path):
    pytest.importorskip("pdoc")
    r = subprocess.run(
        [sys.executable, "-m", "pdoc", *MODULES, "--docformat", "numpy", "-o", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    index = (tmp_path / "phasic.html").read_text()
    for name in ("Graph", "SVGD", "initialize_distributed", "GraphArrays"):
        assert name in index
    pages = "".join(p.read_text() for p in tmp_path.rglob("*.html"))
    for method in (
        "expectation",
        "moments_gradient",
        "reward_transform",
        "discretize",
        "pmf_from_graph",
        "symbolic_elimination",
        "credible_interval",
    ):
        assert f"{method}" in pages, method
    assert (tmp_path / "phasic" / "cluster.html").exists()


def test_coming_from_the_earlier_phasic_page_runs():
    # Every python block of the page executes as written (each asserts its own numbers).
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "coming_from_earlier_phasic.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    assert len(blocks) == 3
    for block in blocks:
        exec(compile(block, str(page), "exec"), {})
