"""Backend helpers: the params of a contract run on memory and on Redis, Redis settings with
timings short enough for a test, and a broker handler that records what it is handed."""

from __future__ import annotations

from typing import Any

import pytest

from roomkey.core.protocol import Outbound
from roomkey.testing.settings import test_redis_settings

# The params of a fixture whose test body runs on both families (a contract): the Redis one
# carries the redis marker, so that -m "not redis" still runs the memory one.
MEMORY_AND_REDIS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]


# The kit's: short timings so that heartbeats, sweeps and reconnections happen within a
# test, and a key prefix of its own each time (tests sharing a redis-server keep apart).
redis_settings = test_redis_settings


class Recorder:
    """A broker's delivery and control handlers (``deliver``, ``control``), recording."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[str, Outbound, str | None]] = []
        self.commands: list[tuple[str, dict[str, Any]]] = []

    def deliver(self, app_id: str, message: Outbound, exclude: str | None) -> None:
        self.deliveries.append((app_id, message, exclude))

    def control(self, app_id: str, command: dict[str, Any]) -> None:
        self.commands.append((app_id, command))
