"""The one factory of presence stores: Redis with a ``[redis]`` topology (url, sentinels or cluster nodes), memory without."""

from __future__ import annotations

from roomkey.config import Settings
from roomkey.presence.base import PresenceStore
from roomkey.presence.memory import MemoryPresenceStore
from roomkey.presence.redis import RedisPresenceStore


def create_presence_store(settings: Settings, node_id: str) -> PresenceStore:
    if settings.redis.enabled:
        return RedisPresenceStore(settings.redis, node_id)
    return MemoryPresenceStore()
