#!/usr/bin/env bash
# Installs roomkey into .venv and starts it with the development preset: one app, memory
# backends, the demo at http://127.0.0.1:6001/. Extra arguments go to `roomkey serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
.venv/bin/python -m pip install -q -e .
if [ -f web/package.json ]; then
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi
exec .venv/bin/roomkey serve "$@"
