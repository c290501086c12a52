"""The markers of tests that need something beyond Python and roomkey's own packages.

They are registered in pyproject.toml and pytest runs with ``--strict-markers``:

- ``redis``: starts a real redis-server (the ``redis-server`` binary).
- ``node``: runs Node.js with the npm packages of web/ (``npm ci`` in web/).
- ``browser``: drives Chromium (``/usr/bin/chromium``) through Playwright.
- ``slow``: takes more than a few seconds (processes started and stopped, floods, the
  benchmark's smoke run); ``-m "not slow"`` is the quick pass while working.

``-m "not redis and not node and not browser"`` runs on a machine with Python alone. The
markers stay true because they are checked: at collection, a test that asks for a fixture
that needs one of them (``FIXTURE_NEEDS``) and lacks its marker stops the run; while a test
runs, a helper that starts one of them calls ``require`` and fails a test that lacks the
marker. ``tests/unit`` holds pure tests: one there that asks for a server fixture
(``SERVER_FIXTURES``) stops the run too.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

REDIS = "redis"
NODE = "node"
BROWSER = "browser"
SLOW = "slow"

# Fixtures (tests/conftest.py) that start what a marker stands for.
FIXTURE_NEEDS = {
    "redis_server": REDIS,
    "own_redis": REDIS,
    "node_pusher": NODE,
    "roomkey_redis": REDIS,  # the kit's (roomkey.testing.plugin)
    "roomkey_redis_url": REDIS,
    "redis_sentinel": REDIS,
    "redis_cluster": REDIS,
}
# Fixtures that start roomkey or a client of it: none of them in tests/unit.
SERVER_FIXTURES = frozenset(
    {
        *("start_server", "server", "connect", "raw_pusher", "node_pusher", "redis_server"),
        *("own_redis", "roomkey_server", "roomkey_clients", "roomkey_webhooks", "aiohttp_server"),
        *("aiohttp_client", "roomkey_redis", "redis_sentinel", "redis_cluster"),
    }
)

_running: list[pytest.Item] = []  # the test being set up, run or torn down (conftest's hooks)


def entering(item: pytest.Item) -> None:
    _running.append(item)


def leaving(item: pytest.Item) -> None:
    if _running and _running[-1] is item:
        _running.pop()


def require(marker: str, what: str) -> None:
    """Fail the running test unless it carries ``marker``: ``what`` (e.g. "a redis-server")
    is about to start. Outside a test (a script that borrows a helper) it does nothing."""
    if not _running:
        return
    item = _running[-1]
    if item.get_closest_marker(marker) is None:
        pytest.fail(
            f"{item.nodeid} starts {what} but is not marked: add @pytest.mark.{marker} "
            "(or pytestmark) so that -m selects it rightly",
            pytrace=False,
        )


def misplaced(items: Iterable[pytest.Item], unit_dir: Path) -> list[str]:
    """What is wrong with the collected tests' markers and seams, one line each: a fixture of
    ``FIXTURE_NEEDS`` without its marker, a server fixture under ``unit_dir``."""
    problems = []
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        for fixture, marker in FIXTURE_NEEDS.items():
            if fixture in names and item.get_closest_marker(marker) is None:
                problems.append(f"{item.nodeid}: uses {fixture} without @pytest.mark.{marker}")
        if unit_dir in item.path.parents and names & SERVER_FIXTURES:
            used = ", ".join(sorted(names & SERVER_FIXTURES))
            problems.append(f"{item.nodeid}: a unit test starts a server ({used}): move it")
    return problems
