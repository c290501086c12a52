"""The channel-cache contract, one body over memory and each real Redis topology (one
redis-server, Sentinel, Cluster): the last event
replaces the one before, each app and channel apart, data kept exactly (a string stays a
string), nothing after the time to live."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from roomkey.cache.base import CachedEvent, ChannelCache
from roomkey.cache.memory import MemoryChannelCache
from roomkey.cache.redis import RedisChannelCache
from roomkey.redis_keys import RedisKeys
from tests.support.backends import EVERY_BACKEND, redis_settings, topology_settings
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for_condition


@pytest.fixture(params=EVERY_BACKEND)
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[ChannelCache]:
    store: ChannelCache
    if request.param == "memory":
        store = MemoryChannelCache()
    else:
        store = RedisChannelCache(topology_settings(request))
    await store.start()
    yield store
    await store.close()


async def test_last_event_wins_per_app_and_channel(cache: ChannelCache) -> None:
    assert await cache.get("1", "cache-a") is None
    await cache.put("1", "cache-a", CachedEvent("e", '{"n":1}'), 60)
    await cache.put("1", "cache-a", CachedEvent("e", '{"n":2}'), 60)
    await cache.put("2", "cache-a", CachedEvent("other", {"n": 3}), 60)
    assert await cache.get("1", "cache-a") == CachedEvent("e", '{"n":2}')
    assert await cache.get("2", "cache-a") == CachedEvent("other", {"n": 3})
    assert await cache.get("1", "cache-b") is None


async def test_nothing_after_the_time_to_live(cache: ChannelCache) -> None:
    await cache.put("1", "cache-short", CachedEvent("e", "x"), 0.05)
    await cache.put("1", "cache-long", CachedEvent("e", "y"), 60)

    async def expired() -> bool:
        return await cache.get("1", "cache-short") is None

    await wait_for_condition(expired, "the short entry to expire")
    assert await cache.get("1", "cache-long") == CachedEvent("e", "y")


async def test_memory_cache_drops_expired_entries_as_it_goes() -> None:
    now = [0.0]
    cache = MemoryChannelCache(clock=lambda: now[0])
    for i in range(10):
        await cache.put("1", f"cache-{i}", CachedEvent("e", i), 1.0)
    now[0] = 5.0
    await cache.put("1", "cache-new", CachedEvent("e", "n"), 1.0)
    assert len(cache) == 1


@pytest.mark.redis
async def test_redis_key_carries_the_time_to_live(redis_server: RedisServer) -> None:
    settings = redis_settings(redis_server.url)
    store = RedisChannelCache(settings)
    await store.start()
    try:
        await store.put("7", "cache-x", CachedEvent("e", "d"), 1800)
        key = RedisKeys(settings.prefix).cache("7", "cache-x")
        assert key == f"{settings.prefix}:cache:{{7}}:cache-x"
        ttl = await store._r.pttl(key)
        assert 1_790_000 < ttl <= 1_800_000
    finally:
        await store.close()


async def test_a_cache_miss_is_claimed_once_until_a_put_or_the_window_ends(
    cache: ChannelCache,
) -> None:
    assert await cache.claim_miss("1", "cache-m", 60) is True
    assert await cache.claim_miss("1", "cache-m", 60) is False
    assert await cache.claim_miss("2", "cache-m", 60) is True  # another app
    await cache.put("1", "cache-m", CachedEvent("e", "x"), 60)
    assert await cache.claim_miss("1", "cache-m", 60) is True  # the put ended the claim
    assert await cache.claim_miss("1", "cache-short", 0.05) is True

    async def claimable() -> bool:
        return await cache.claim_miss("1", "cache-short", 0.05)

    await wait_for_condition(claimable, "the miss window to end")
