#!/usr/bin/env bash
# Installs everything the tests need, then runs ruff, mypy and the whole pytest suite.
# Used as-is by .ci/run. Safe to re-run: every step skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
# redis-cli creates the Redis Cluster of the topology tests (redis-server --sentinel runs the
# sentinels).
command -v redis-cli >/dev/null 2>&1 || need_apt+=(redis-tools)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'

if [ -f web/package.json ]; then
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi

# The benchmark's peer (laravel-echo-server, run by the bench smoke test): npm ci only when its
# node_modules is missing or was installed from another package-lock.json (a stamp in it).
peer=bench/peers/laravel-echo-server
peer_lock=$(sha256sum "$peer/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$peer/node_modules/.roomkey-lock.sha256" 2>/dev/null || true)" != "$peer_lock" ]; then
  (cd "$peer" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$peer_lock" >"$peer/node_modules/.roomkey-lock.sha256"
fi

# The Express app of the identity tests (express-session + connect-redis): the same stamp.
express=tests/support/js/express-app
express_lock=$(sha256sum "$express/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$express/node_modules/.roomkey-lock.sha256" 2>/dev/null || true)" != "$express_lock" ]; then
  (cd "$express" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$express_lock" >"$express/node_modules/.roomkey-lock.sha256"
fi

.venv/bin/ruff check server tests bench examples
.venv/bin/ruff format --check server tests bench examples
.venv/bin/mypy
# The example application is type-checked and tested as an application's CI would: its own
# mypy and pytest configuration (examples/chat/pyproject.toml), its own pytest session.
(cd examples/chat && ../../.venv/bin/mypy)
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
.venv/bin/python -m pytest -q -p no:cacheprovider examples/chat
