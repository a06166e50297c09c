#!/usr/bin/env bash
# Set up bbx on a fresh machine: a venv in .venv with everything the project, its tests
# and its training need. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# Build tools first: the package is installed without build isolation so the compiled
# extensions build against the same numpy the runtime uses.
.venv/bin/python -m pip install -q "setuptools>=68" wheel "Cython>=3.0" "numpy>=1.26"
.venv/bin/python -m pip install -q --no-build-isolation -e ".[dev,train]"
