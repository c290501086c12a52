"""One contract for every rate limiter: the memory one and the Redis one (one real
redis-server, Sentinel and Cluster)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest

from roomkey.ratelimit.base import RateLimiter
from roomkey.ratelimit.memory import MemoryRateLimiter
from roomkey.ratelimit.redis import RedisRateLimiter
from tests.support.backends import EVERY_BACKEND, topology_settings
from tests.support.redis_server import RedisServer


@pytest.fixture(params=EVERY_BACKEND)
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        lim: RateLimiter = MemoryRateLimiter()
    else:
        lim = RedisRateLimiter(topology_settings(request, operation_timeout_seconds=2.0))
    await lim.start()
    yield lim
    await lim.close()


async def test_allows_up_to_the_limit_then_refuses_with_retry_after(limiter: RateLimiter) -> None:
    results = [await limiter.hit("k", 3, 30.0) for _ in range(5)]
    assert [d.allowed for d in results] == [True, True, True, False, False]
    assert 0 < results[3].retry_after <= 30.0


async def test_keys_are_independent(limiter: RateLimiter) -> None:
    assert (await limiter.hit("a", 1, 30.0)).allowed
    assert not (await limiter.hit("a", 1, 30.0)).allowed
    assert (await limiter.hit("b", 1, 30.0)).allowed


async def test_window_ends_and_refused_hits_are_not_counted(limiter: RateLimiter) -> None:
    assert (await limiter.hit("w", 2, 0.3)).allowed
    assert (await limiter.hit("w", 2, 0.3)).allowed
    for _ in range(5):
        assert not (await limiter.hit("w", 2, 0.3)).allowed
    await asyncio.sleep(0.4)
    assert (await limiter.hit("w", 2, 0.3)).allowed
    assert (await limiter.hit("w", 2, 0.3)).allowed
    assert not (await limiter.hit("w", 2, 0.3)).allowed


async def test_concurrent_hits_never_exceed_the_limit(limiter: RateLimiter) -> None:
    decisions = await asyncio.gather(*(limiter.hit("c", 10, 30.0) for _ in range(40)))
    assert sum(d.allowed for d in decisions) == 10


@pytest.mark.redis
async def test_redis_limit_is_shared_by_every_node(redis_server: RedisServer) -> None:
    prefix = f"t{secrets.token_hex(4)}"
    a = RedisRateLimiter(redis_server.url, prefix=prefix, timeout=2.0)
    b = RedisRateLimiter(redis_server.url, prefix=prefix, timeout=2.0)
    try:
        assert (await a.hit("shared", 2, 30.0)).allowed
        assert (await b.hit("shared", 2, 30.0)).allowed
        assert not (await a.hit("shared", 2, 30.0)).allowed
        assert not (await b.hit("shared", 2, 30.0)).allowed
    finally:
        await a.close()
        await b.close()


async def test_redis_unreachable_allows_and_counts_the_failure() -> None:
    from tests.support.servers import free_port

    lim = RedisRateLimiter(f"redis://127.0.0.1:{free_port()}/0", prefix="x", timeout=0.3)
    try:
        assert (await lim.hit("k", 1, 30.0)).allowed
        assert (await lim.hit("k", 1, 30.0)).allowed
        assert lim.failures == 2
    finally:
        await lim.close()


async def test_memory_table_stays_bounded() -> None:
    lim = MemoryRateLimiter(max_keys=2000)
    for i in range(5000):
        await lim.hit(f"key-{i}", 1, 30.0)
    assert len(lim) <= 2000
