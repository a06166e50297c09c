#!/usr/bin/env bash
# Build the wheel as pip builds it for users (isolated build environment), install it into a
# fresh virtual environment without torch, and smoke-test the installed `bbx` command there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WORK=build/wheel-smoke
rm -rf "$WORK"
"$PY" -m pip wheel -q --no-deps -w "$WORK/dist" .
WHEEL=$(ls "$WORK"/dist/bbx-*.whl)
echo "wheel: $WHEEL ($(du -k "$WHEEL" | cut -f1) KiB)"
"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install -q "$WHEEL"
if "$WORK/venv/bin/python" -c "import torch" 2>/dev/null; then
    echo "wheel smoke: torch is installed in the fresh venv; it must not be a runtime dependency" >&2
    exit 1
fi
"$WORK/venv/bin/python" scripts/wheel_smoke.py --bbx "$WORK/venv/bin/bbx"
