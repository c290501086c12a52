#!/usr/bin/env bash
# The quick check while working, in seconds: ruff, ruff format --check, mypy (strict, over
# server/, tests/ and bench/) and the unit tests (pure: no server, no redis-server, no Node, no
# browser). It installs nothing. scripts/test.sh, what CI runs, installs everything the tests
# need and runs the whole suite. Extra arguments go to pytest (e.g. -k signing).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${VENV:-.venv}  # another virtualenv: VENV=/path/to/venv bash scripts/check.sh
# This tree's code, even when the virtualenv has roomkey installed from elsewhere.
export PYTHONPATH="server${PYTHONPATH:+:$PYTHONPATH}"
export MYPYPATH=server

"$venv/bin/ruff" check server tests bench examples
"$venv/bin/ruff" format --check server tests bench examples
"$venv/bin/mypy"
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/unit "$@"
