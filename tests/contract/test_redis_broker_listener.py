"""The Redis broker's listener is watched: a killed connection and a deaf one are replaced,
every channel is subscribed again, and readiness says so meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from roomkey.broker.redis import RedisBroker
from roomkey.core.protocol import ChannelEvent
from tests.support.backends import Recorder, redis_settings
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for_condition

pytestmark = [pytest.mark.redis]


class FreezingProxy:
    """A TCP proxy to Redis on loopback that can make pub/sub connections deaf: after
    ``freeze()``, nothing more from Redis reaches a connection that has sent SUBSCRIBE, while
    the connection itself stays open. New connections are not affected."""

    def __init__(self, redis_port: int) -> None:
        self.redis_port = redis_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._subscribers: list[asyncio.Event] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def freeze(self) -> None:
        for frozen in self._subscribers:
            frozen.set()

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.redis_port)
        frozen = asyncio.Event()
        for coro in (
            self._pump(reader, up_writer, frozen, watch=True),
            self._pump(up_reader, writer, frozen, watch=False),
        ):
            task = asyncio.create_task(coro)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        frozen: asyncio.Event,
        *,
        watch: bool,
    ) -> None:
        try:
            while data := await reader.read(65536):
                if watch and b"SUBSCRIBE" in data.upper() and frozen not in self._subscribers:
                    self._subscribers.append(frozen)
                if not watch and frozen.is_set():
                    continue  # deaf: swallow what Redis sends
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


@pytest.fixture
async def proxy(redis_server: RedisServer) -> AsyncIterator[FreezingProxy]:
    p = FreezingProxy(redis_server.port)
    await p.start()
    yield p
    await p.close()


async def test_deaf_listener_is_detected_and_replaced(
    redis_server: RedisServer, proxy: FreezingProxy
) -> None:
    settings = redis_settings(redis_server.url)
    listener = RedisBroker(
        redis_settings(f"redis://127.0.0.1:{proxy.port}/0", prefix=settings.prefix), "node-a"
    )
    publisher = RedisBroker(settings, "node-b")
    rec = Recorder()
    listener.set_handler(rec.deliver)
    for b in (listener, publisher):
        await b.start()
    try:
        await wait_for_condition(lambda: listener.ready and publisher.ready, "both brokers ready")
        await listener.listen("1", "private-d")
        await publisher.publish("1", ChannelEvent("private-d", "e", "before"))
        await wait_for_condition(lambda: len(rec.deliveries) == 1, "the first event delivered")
        proxy.freeze()
        await wait_for_condition(
            lambda: not listener.ready, "the deaf listener to be noticed (not ready)", timeout=10
        )
        await wait_for_condition(
            lambda: listener.ready, "the listener replaced (ready again)", timeout=10
        )
        assert listener.reconnects >= 1
        await publisher.publish("1", ChannelEvent("private-d", "e", "after"))
        await wait_for_condition(lambda: len(rec.deliveries) == 2, "both events delivered")
        assert rec.deliveries[1][1].data == "after"  # type: ignore[attr-defined]
    finally:
        for b in (listener, publisher):
            await b.close()


async def test_killed_listener_connection_resubscribes(redis_server: RedisServer) -> None:
    settings = redis_settings(redis_server.url)
    listener, publisher = RedisBroker(settings, "node-a"), RedisBroker(settings, "node-b")
    rec = Recorder()
    listener.set_handler(rec.deliver)
    for b in (listener, publisher):
        await b.start()
    try:
        await wait_for_condition(lambda: listener.ready and publisher.ready, "both brokers ready")
        for channel in ("private-1", "private-2"):
            await listener.listen("1", channel)
        redis_server.cli("CLIENT", "KILL", "TYPE", "pubsub")
        await wait_for_condition(
            lambda: listener.reconnects >= 1 and listener.ready,
            "the listener reconnected and ready",
            timeout=10,
        )
        for channel in ("private-1", "private-2"):
            await publisher.publish("1", ChannelEvent(channel, "e", channel))
        await wait_for_condition(lambda: len(rec.deliveries) == 2, "both events delivered")
        assert sorted(m.channel for _, m, _ in rec.deliveries) == ["private-1", "private-2"]
    finally:
        for b in (listener, publisher):
            await b.close()
