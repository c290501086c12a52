"""Backend helpers: the params of a contract run on memory and on Redis, Redis settings with
timings short enough for a test, and a broker handler that records what it is handed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from roomkey.config import RedisSettings
from roomkey.core.protocol import Outbound

# The params of a fixture whose test body runs on both families (a contract): the Redis one
# carries the redis marker, so that -m "not redis" still runs the memory one.
MEMORY_AND_REDIS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]
# The Redis topologies a Redis contract runs on: one redis-server, Sentinel (a master, a
# replica, three sentinels) and Cluster (three masters with a replica each), each started
# once per session (tests/conftest.py).
REDIS_TOPOLOGIES = [
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("sentinel", marks=pytest.mark.redis),
    pytest.param("cluster", marks=pytest.mark.redis),
]
# Memory and every Redis topology: the contract suite's params.
EVERY_BACKEND = ["memory", *REDIS_TOPOLOGIES]
_TOPOLOGY_FIXTURES = {
    "redis": "redis_server",
    "sentinel": "redis_sentinel",
    "cluster": "redis_cluster",
}


def topology_settings(request: pytest.FixtureRequest, **overrides: Any) -> RedisSettings:
    """Redis settings (``redis_settings``: short timings, a prefix of its own) for the
    topology ``request.param`` names (``redis``, ``sentinel`` or ``cluster``), started by its
    session fixture."""
    started = request.getfixturevalue(_TOPOLOGY_FIXTURES[request.param])
    if request.param == "redis":
        return redis_settings(started.url, **overrides)
    settings: RedisSettings = started.settings(**overrides)
    return settings


def redis_settings(url: str = "", **overrides: Any) -> RedisSettings:
    """Short timings so that heartbeats, sweeps and reconnections happen within a test; a
    prefix of its own each time, so that tests sharing a redis-server keep apart."""
    values: dict[str, Any] = {
        "url": url,
        "prefix": f"t{uuid.uuid4().hex[:10]}",
        "heartbeat_seconds": 0.2,
        "node_timeout_seconds": 0.8,
        "operation_timeout_seconds": 0.5,
    }
    values.update(overrides)
    return RedisSettings(**values)


class Recorder:
    """A broker's delivery and control handlers (``deliver``, ``control``), recording."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[str, Outbound, str | None]] = []
        self.commands: list[tuple[str, dict[str, Any]]] = []

    def deliver(self, app_id: str, message: Outbound, exclude: str | None) -> None:
        self.deliveries.append((app_id, message, exclude))

    def control(self, app_id: str, command: dict[str, Any]) -> None:
        self.commands.append((app_id, command))
