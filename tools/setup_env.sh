#!/usr/bin/env bash
# Create .venv at the project root (if missing) and build/install phasic into it (editable).
# Called by `make run` / `make test` whenever the native sources or the build files changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# Build requirements first, so the extension builds without an isolated (re-downloaded) jax.
.venv/bin/python -m pip install -q "scikit-build-core>=0.10" "nanobind>=2.4" "jax>=0.10,<0.11" ninja cmake
echo "[setup] building the native extension phasic._core"
.venv/bin/python -m pip install -q --no-build-isolation -e ".[test]"
.venv/bin/python -c "import phasic, phasic._core; print('[setup] phasic', phasic.__version__, 'ready')"
