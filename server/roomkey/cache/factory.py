"""The one factory of channel caches: Redis with ``redis.url``, memory without."""

from __future__ import annotations

from roomkey.cache.base import ChannelCache
from roomkey.cache.memory import MemoryChannelCache
from roomkey.cache.redis import RedisChannelCache
from roomkey.config import Settings


def create_channel_cache(settings: Settings) -> ChannelCache:
    if settings.redis.url:
        return RedisChannelCache(settings.redis)
    return MemoryChannelCache()
