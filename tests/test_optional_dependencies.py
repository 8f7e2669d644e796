"""The core needs only numpy, scipy, jax, optax and tqdm; extras fail with the install line."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_core_import_loads_no_optional_dependency():
    r = _run(
        "import sys\n"
        "import phasic, phasic.jax, phasic.inference, phasic.distributed\n"
        "print(sorted(m for m in ('matplotlib', 'yaml', 'pydantic', 'arviz', 'graphviz') "
        "if m in sys.modules))"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_missing_extras_name_the_install_line():
    r = _run(
        "import sys; sys.modules['pydantic'] = None\n"
        "try:\n"
        "    import phasic.cluster\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    assert "pip install 'phasic[cluster]'" in r.stdout, r.stderr
    r = _run(
        "import sys; sys.modules['matplotlib'] = None\n"
        "from phasic.inference._plots import _plt\n"
        "try:\n"
        "    _plt()\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    assert "pip install 'phasic[plot]'" in r.stdout, r.stderr
