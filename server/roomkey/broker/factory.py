"""The one factory of brokers: Redis pub/sub with a ``[redis]`` topology (url, sentinels or cluster nodes), memory without."""

from __future__ import annotations

from roomkey.broker.base import Broker
from roomkey.broker.memory import MemoryBroker
from roomkey.broker.redis import RedisBroker
from roomkey.config import Settings


def create_broker(settings: Settings, node_id: str) -> Broker:
    if settings.redis.enabled:
        return RedisBroker(settings.redis, node_id)
    return MemoryBroker()
