"""Opening Redis clients for the broker and the presence store, and turning Redis failures
into ``ServiceUnavailable``.

Clients never retry on their own: a failed call surfaces at once (as ``ServiceUnavailable``,
HTTP 503) and the callers decide (the broker's listener reconnects with backoff; the presence
store reconciles at its next heartbeat). Every call is bounded by
``redis.operation_timeout_seconds``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from roomkey.config import RedisSettings
from roomkey.errors import ServiceUnavailable
from roomkey.tasks import within

T = TypeVar("T")


def text(value: bytes | str) -> str:
    """A Redis reply as text (clients are opened with ``decode_responses=False``)."""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


# What a Redis call can fail with: protocol/connection errors, socket errors, timeouts.
REDIS_FAILURES: tuple[type[BaseException], ...] = (RedisError, OSError, asyncio.TimeoutError)


# Connections per client. More calls at once wait for a free connection (within the
# operation timeout) instead of failing: redis-py's default pool raises MaxConnectionsError
# past 100, which turned a burst of subscribes into "redis is unavailable" refusals.
MAX_CONNECTIONS = 64


def open_redis(settings: RedisSettings, *, name: str) -> aioredis.Redis:
    """A client for ``settings.url`` with bounded connect/read times and no hidden retries.
    ``name`` is shown by ``CLIENT LIST`` (e.g. ``roomkey-broker``). At most
    ``MAX_CONNECTIONS`` connections; further calls wait for one, up to the operation
    timeout."""
    timeout = settings.operation_timeout_seconds
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.url,
        max_connections=MAX_CONNECTIONS,
        timeout=timeout,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        client_name=name,
        decode_responses=False,
    )
    return aioredis.Redis.from_pool(pool)


async def bounded(call: Awaitable[T], limit_seconds: float, what: str) -> T:
    """Await a Redis call within ``limit_seconds``; ``ServiceUnavailable`` naming ``what``
    when Redis cannot answer."""
    try:
        return await within(call, limit_seconds)
    except REDIS_FAILURES:
        raise ServiceUnavailable(f"redis is unavailable ({what})") from None
