"""Publishing as a Laravel application does for laravel-echo-server: one Redis ``PUBLISH`` per
message, on the channel name with the configured prefix, of the JSON
``{"event": "tick", "data": {"data": "@<ns>@..."}, "socket": null}``.

The stamp is ``bench.publisher.stamp()``, taken just before the command is written, exactly as
for the REST publishes, and burst and paced publishing are ``BasePublisher.run``'s (the same
counts, ``BURST_CONCURRENCY`` commands in flight in a burst, the same interval when paced), so
latencies and rates compare with the other targets'. Every command has ``timeout``; a
``PUBLISH`` that reached no subscriber (the peer is not listening) counts as a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import redis.asyncio as aioredis

from bench.publisher import BURST_CONCURRENCY, BasePublisher, stamp

EVENT = "tick"


def laravel_message(data: str) -> str:
    """The JSON Laravel's Redis broadcaster publishes: event name, payload, sender socket."""
    return json.dumps({"event": EVENT, "data": {"data": data}, "socket": None})


class RedisPublisher(BasePublisher):
    """Publishes ``tick`` events for ``channel`` on the Redis at ``url`` (``prefix`` +
    ``channel``), through a pool of at most ``BURST_CONCURRENCY`` connections."""

    def __init__(self, url: str, prefix: str, channel: str, timeout: float) -> None:
        super().__init__(timeout)
        self.url = url
        self.redis_channel = prefix + channel

    async def _one(self, client: aioredis.Redis) -> None:
        try:
            receivers = await asyncio.wait_for(
                client.publish(self.redis_channel, laravel_message(stamp())), self.timeout
            )
        except (TimeoutError, aioredis.RedisError, OSError) as exc:
            self.failures.append(type(exc).__name__)
            return
        if receivers < 1:
            self.failures.append("PUBLISH reached no subscriber")

    @contextlib.asynccontextmanager
    async def _open(self) -> AsyncIterator[Callable[[], Awaitable[None]]]:
        client = aioredis.Redis.from_url(
            self.url,
            max_connections=BURST_CONCURRENCY,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
        )
        try:
            yield lambda: self._one(client)
        finally:
            await asyncio.wait_for(client.aclose(), self.timeout)
