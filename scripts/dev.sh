#!/usr/bin/env bash
# Installs roomkey into .venv and starts it with the development preset: one app, memory
# backends, the demo at http://127.0.0.1:6001/. Extra arguments go to `roomkey serve`.
# A restart installs only what changed: pip runs when pyproject.toml differs from the last
# install (a stamp in .venv), npm ci when web/package-lock.json differs from the one
# web/node_modules was installed from (a stamp in node_modules).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv

py_stamp=.venv/.roomkey-pyproject.sha256
py_hash=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$py_stamp" 2>/dev/null || true)" != "$py_hash" ] || [ ! -x .venv/bin/roomkey ]; then
  .venv/bin/python -m pip install -q -e .
  echo "$py_hash" >"$py_stamp"
fi

if [ -f web/package-lock.json ]; then
  web_stamp=web/node_modules/.roomkey-lock.sha256
  web_hash=$(sha256sum web/package-lock.json | cut -d' ' -f1)
  if [ "$(cat "$web_stamp" 2>/dev/null || true)" != "$web_hash" ]; then
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
    echo "$web_hash" >"$web_stamp"
  fi
fi
exec .venv/bin/roomkey serve "$@"
