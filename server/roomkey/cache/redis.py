"""Cluster-wide cache channels in Redis: one string key per app and channel (name:
``redis_keys.RedisKeys.cache``) holding ``{"event", "data"}`` as JSON, set with its time to
live (``SET ... PX``), so Redis forgets it by itself. A reported cache miss is a second key
(``RedisKeys.cache_miss``) set with ``NX`` for the de-duplication window, which the next put
deletes in the same script (``PUT``: both keys carry the app's hash tag, so on Redis Cluster
they share a slot). Every call is bounded by
``redis.operation_timeout_seconds`` and raises ``ServiceUnavailable`` when Redis cannot
answer; a value that does not decode reads as a miss (logged once)."""

from __future__ import annotations

import json
import logging
from typing import Any

from roomkey.cache.base import CachedEvent, ChannelCache
from roomkey.config import RedisSettings
from roomkey.core.errors import ServiceUnavailable
from roomkey.core.protocol import dumps
from roomkey.logs import log_event
from roomkey.redis_client import RedisClient, bounded, open_redis
from roomkey.redis_keys import RedisKeys

# KEYS[1] the cache key, KEYS[2] its miss key; ARGV[1] the value, ARGV[2] its TTL in ms.
PUT = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('DEL', KEYS[2])
"""

log = logging.getLogger("roomkey.cache")


class RedisChannelCache(ChannelCache):
    def __init__(self, settings: RedisSettings) -> None:
        self._settings = settings
        self._keys = RedisKeys(settings.prefix)
        self._timeout = settings.operation_timeout_seconds
        self._redis: RedisClient | None = None
        self._put: Any = None

    async def start(self) -> None:
        self._redis = open_redis(self._settings, name="roomkey-cache")
        self._put = self._redis.register_script(PUT)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    @property
    def _r(self) -> RedisClient:
        if self._redis is None:
            raise ServiceUnavailable("the channel cache is not started")
        return self._redis

    async def put(self, app_id: str, channel: str, event: CachedEvent, ttl_seconds: float) -> None:
        value = dumps({"event": event.event, "data": event.data})
        ttl_ms = max(1, int(ttl_seconds * 1000))
        keys = [self._keys.cache(app_id, channel), self._keys.cache_miss(app_id, channel)]
        if self._put is None:
            raise ServiceUnavailable("the channel cache is not started")
        await bounded(self._put(keys=keys, args=[value, ttl_ms]), self._timeout, "cache put")

    async def claim_miss(self, app_id: str, channel: str, window_seconds: float) -> bool:
        window_ms = max(1, int(window_seconds * 1000))
        claimed = await bounded(
            self._r.set(self._keys.cache_miss(app_id, channel), b"1", nx=True, px=window_ms),
            self._timeout,
            "cache miss",
        )
        return bool(claimed)

    async def get(self, app_id: str, channel: str) -> CachedEvent | None:
        raw = await bounded(
            self._r.get(self._keys.cache(app_id, channel)), self._timeout, "cache get"
        )
        if raw is None:
            return None
        try:
            value = json.loads(raw)
            event = value["event"]
            if not isinstance(event, str) or "data" not in value:
                raise ValueError("not a cached event")
        except (ValueError, TypeError, KeyError):
            log_event(
                log, logging.WARNING, "malformed cached event ignored", repeat_key="cache-bad"
            )
            return None
        return CachedEvent(event, value["data"])
