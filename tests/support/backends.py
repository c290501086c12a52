"""Backend helpers: the params of a contract run on memory and on Redis, Redis settings with
timings short enough for a test, and a broker handler that records what it is handed."""

from __future__ import annotations

from typing import Any

import pytest

from roomkey.config import RedisSettings
from roomkey.core.protocol import Outbound
from roomkey.testing.settings import test_redis_settings

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


# The kit's: short timings so that heartbeats, sweeps and reconnections happen within a
# test, and a key prefix of its own each time (tests sharing a redis-server keep apart).
redis_settings = test_redis_settings


def topology_settings(request: pytest.FixtureRequest, **overrides: Any) -> RedisSettings:
    """Redis settings (``redis_settings``: short timings, a prefix of its own) for the
    topology ``request.param`` names (``redis``, ``sentinel`` or ``cluster``), started by its
    session fixture."""
    started = request.getfixturevalue(_TOPOLOGY_FIXTURES[request.param])
    if request.param == "redis":
        return redis_settings(started.url, **overrides)
    settings: RedisSettings = started.settings(**overrides)
    return settings


class Recorder:
    """A broker's delivery and control handlers (``deliver``, ``control``), recording."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[str, Outbound, str | None]] = []
        self.commands: list[tuple[str, dict[str, Any]]] = []

    def deliver(self, app_id: str, message: Outbound, exclude: str | None) -> None:
        self.deliveries.append((app_id, message, exclude))

    def control(self, app_id: str, command: dict[str, Any]) -> None:
        self.commands.append((app_id, command))
