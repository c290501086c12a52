"""A burst of Redis calls larger than the connection pool waits for connections instead of
failing: a Redis-backed node under a wave of subscribes (the benchmark's 200 handshakes in
flight) refused some of them with "redis is unavailable" before the pool was bounded."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from roomkey.config import RedisSettings
from roomkey.presence.redis import RedisPresenceStore
from roomkey.redis_client import MAX_CONNECTIONS
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.redis]


async def test_more_concurrent_calls_than_connections_all_succeed(
    redis_server: RedisServer,
) -> None:
    settings = RedisSettings(url=redis_server.url, prefix=f"t{uuid.uuid4().hex[:10]}")
    store = RedisPresenceStore(settings, "node-burst")
    await store.start()
    try:
        calls = 4 * MAX_CONNECTIONS
        counts = await asyncio.gather(
            *(store.add_subscriber("1", "news", f"1.{i}") for i in range(calls))
        )
        assert sorted(counts) == list(range(1, calls + 1))
        # The pool never grew past its bound (the store's own connections aside).
        clients = redis_server.cli("CLIENT", "LIST").count("name=roomkey-presence")
        assert 1 <= clients <= MAX_CONNECTIONS + 2
    finally:
        await store.close()
