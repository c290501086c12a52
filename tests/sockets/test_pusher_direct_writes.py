"""Pusher-protocol deliveries with and without ``performance.direct_writes``: the same frames,
in the same order, never ahead of a frame already queued for the socket, and a client that
stops reading is still closed with 4100 rather than buffered without bound."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from dataclasses import replace

import pytest

from roomkey.config import Limits, PerformanceSettings, Settings
from roomkey.transports.pusher.connection import PusherConnection
from roomkey.transports.pusher.wire import frame
from tests.support.apps import APP_KEY, make_settings
from tests.support.pusher import RawPusherFactory
from tests.support.servers import Server, StartServer
from tests.support.waiting import wait_for_condition


def _settings(direct: bool, **limits: int) -> Settings:
    # A short write timeout (it is the pong timeout): a writer stuck on a client that stopped
    # reading gives up within a second.
    return replace(
        make_settings(
            server={"pusher_pong_timeout_seconds": 1.0}, limits=replace(Limits(), **limits)
        ),
        performance=PerformanceSettings(direct_writes=direct),
    )


@pytest.mark.parametrize("direct", [True, False])
async def test_deliveries_are_identical_with_and_without_direct_writes(
    start_server: StartServer, raw_pusher: RawPusherFactory, direct: bool
) -> None:
    server = await start_server(_settings(direct))
    client = await raw_pusher.established(server)
    await client.subscribe("news")
    rt = server.runtime
    app = rt.apps.by_key(APP_KEY)
    for i in range(40):
        await rt.hub.publish(app, ["news"], "tick", f"payload {i}")
    texts = [(await client.ws.receive(timeout=3)).data for _ in range(40)]
    assert texts == [
        json.dumps(
            {"event": "tick", "channel": "news", "data": f"payload {i}"}, separators=(",", ":")
        )
        for i in range(40)
    ]


async def test_a_delivery_never_overtakes_a_queued_frame(
    start_server: StartServer, raw_pusher: RawPusherFactory
) -> None:
    server = await start_server()  # direct_writes is on by default
    assert server.runtime.settings.performance.direct_writes
    client = await raw_pusher.established(server)
    await client.subscribe("news")
    rt = server.runtime
    conn = next(iter(rt.hub.connections.values()))
    assert isinstance(conn, PusherConnection)
    # Queued for the writer task, which has not run yet ...
    conn.send(frame("pusher:notice", {"n": 1}))
    # ... so these deliveries must go out behind it, in order.
    await rt.hub.publish(rt.apps.by_key(APP_KEY), ["news"], "tick", "after-1")
    await rt.hub.publish(rt.apps.by_key(APP_KEY), ["news"], "tick", "after-2")
    first, second, third = [await client.next() for _ in range(3)]
    assert first["event"] == "pusher:notice"
    assert (second["data"], third["data"]) == ("after-1", "after-2")


async def _stalled_subscriber(server: Server, channel: str) -> socket.socket:
    """A raw TCP client that upgrades, subscribes to ``channel`` and then never reads again
    (a small receive buffer, so the server's side fills up quickly)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", server.port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /app/{APP_KEY}?protocol=7&client=js&version=8.4.0 HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    received = b""
    for _ in range(50):
        received += await asyncio.wait_for(loop.sock_recv(sock, 4096), 3)
        if b"connection_established" in received:
            break
    assert received.startswith(b"HTTP/1.1 101"), received[:80]
    payload = json.dumps({"event": "pusher:subscribe", "data": {"channel": channel}}).encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    await loop.sock_sendall(sock, bytes((0x81, 0x80 | len(payload))) + mask + masked)
    return sock


async def test_a_client_that_stops_reading_is_closed_with_4100(start_server: StartServer) -> None:
    limit = 64 * 1024
    server = await start_server(_settings(True, max_outbound_buffer_bytes=limit))
    rt = server.runtime
    app = rt.apps.by_key(APP_KEY)
    sock = await _stalled_subscriber(server, "news")
    try:
        await wait_for_condition(
            lambda: rt.hub.local_subscribers(app.id, "news") == 1, "subscribed"
        )
        conn = next(iter(rt.hub.connections.values()))
        assert isinstance(conn, PusherConnection)
        data = "x" * 16_000
        # The kernel's buffers take the first megabytes; then the transport's buffer grows
        # past the limit, deliveries queue for the writer, and the queue overflows.
        for _ in range(2000):
            if conn.closing is not None:
                break
            await rt.hub.publish(app, ["news"], "tick", data)
            await asyncio.sleep(0)
        assert conn.closing is not None and conn.closing[0] == 4100
        await wait_for_condition(
            lambda: rt.hub.connection_count(app.id) == 0, "connection forgotten"
        )
        # Nothing more is buffered for it: what the server holds stays within the bounds.
        assert conn._buffered_bytes <= limit
        # And the operator sees it: counted once as a slow-consumer disconnect.
        text = rt.metrics.render().decode()
        assert 'roomkey_slow_consumer_disconnects_total{transport="pusher"} 1.0' in text
    finally:
        sock.close()


async def test_an_idle_socket_keeps_no_writer_task_and_no_buffer(
    start_server: StartServer, raw_pusher: RawPusherFactory
) -> None:
    """The writer is started by what is queued and ends once it is sent: an idle socket holds
    no task and no buffer, and queued frames (here with direct writes off) still arrive in
    order, the close frame last."""
    server = await start_server(_settings(False))
    rt = server.runtime
    client = await raw_pusher.established(server)
    await client.subscribe("news")
    conns = [c for c in rt.hub.connections.values() if isinstance(c, PusherConnection)]
    assert len(conns) == 1
    conn = conns[0]
    await wait_for_condition(lambda: conn.writer is None, "the writer ends once the buffer is sent")
    assert conn._buffer is None
    app = rt.apps.by_key(APP_KEY)
    for i in range(5):
        await rt.hub.publish(app, ["news"], "tick", f"payload {i}")
    assert [json.loads((await client.ws.receive(timeout=3)).data)["data"] for _ in range(5)] == [
        f"payload {i}" for i in range(5)
    ]
    await wait_for_condition(lambda: conn.writer is None and conn._buffer is None, "idle again")
    conn.close(4009, "bye")
    assert (await client.next_event("pusher:error"))["data"]["code"] == 4009
    assert await client.closed_with() == 4009
