"""A client that stops reading is dropped once its outbound buffer overflows, and the server's
memory stays flat while a channel it joined receives a steady stream."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import socketio

from roomkey.core.signing import sign_channel
from tests.support.processes import RoomkeyProcess, serve_process
from tests.support.raw_socketio import RawSocketIO

KEY, SECRET = "slow-key", "slow-secret-0123456789"
CONFIG = f"""
[server]
log_format = "json"
[rate_limits]
subscribes_per_minute_per_connection = 0
[[apps]]
id = "1"
key = "{KEY}"
secret = "{SECRET}"
client_events = true
[apps.limits]
client_events_per_second = 100000
max_event_data_bytes = 20000
max_outbound_buffer_bytes = 262144
"""


async def raw_subscriber(port: int, channel: str) -> RawSocketIO:
    raw = await RawSocketIO.open(port)
    await raw.recv_until("0{")  # Engine.IO open
    raw.send("40" + json.dumps({"key": KEY}))
    await raw.recv_until("40")
    established = json.loads((await raw.recv_until('42["connection_established"'))[2:])
    socket_id = established[1]["socket_id"]
    auth = sign_channel(KEY, SECRET, socket_id, channel)
    raw.send("421" + json.dumps(["subscribe", {"channel": channel, "auth": auth}]))
    ack = json.loads((await raw.recv_until("431"))[3:])
    assert ack == [{"channel": channel}]
    return raw


def slow_drops(server: RoomkeyProcess) -> float:
    for line in server.metrics().splitlines():
        if line.startswith('roomkey_slow_consumer_disconnects_total{transport="socketio"}'):
            return float(line.split()[-1])
    return 0.0


async def publish(client: socketio.AsyncClient, channel: str, count: int) -> None:
    data = "x" * 8000
    calls = [
        client.call(
            "trigger", {"channel": channel, "event": "client-tick", "data": data}, timeout=10
        )
        for _ in range(count)
    ]
    answers: list[Any] = await asyncio.gather(*calls)
    assert all(a == {} for a in answers), answers[:3]


async def test_reader_that_stops_is_dropped_and_memory_stays_flat() -> None:
    channel = "private-stream"
    with serve_process(CONFIG) as server:
        publisher = socketio.AsyncClient(reconnection=False)
        await publisher.connect(server.url, auth={"key": KEY}, transports=["websocket"])
        got: asyncio.Queue[Any] = asyncio.Queue()
        publisher.on("connection_established", lambda d: got.put_nowait(d))
        socket_id = (await asyncio.wait_for(got.get(), 5))["socket_id"]
        auth = sign_channel(KEY, SECRET, socket_id, channel)
        assert await publisher.call("subscribe", {"channel": channel, "auth": auth}) == {
            "channel": channel
        }
        raw = await raw_subscriber(server.port, channel)
        try:
            await publish(publisher, channel, 50)  # warm-up: allocations settle
            rss_before = server.rss_bytes()
            sent = 50
            while slow_drops(server) < 1 and sent < 6000:
                await publish(publisher, channel, 200)
                sent += 200
            assert slow_drops(server) == 1, f"not dropped after {sent} events of 8 KB"
            # It left the hub (and its channel): only the publisher is still connected.
            assert 'roomkey_connections{app="1",transport="socketio"} 1.0' in server.metrics()
            # Keep streaming: nobody buffers for the dropped client any more.
            await publish(publisher, channel, 400)
            growth = server.rss_bytes() - rss_before
            # 8 KB x (sent + 400) events went through; without the bound the queue alone
            # would hold most of them. Allow a generous margin for allocator noise.
            assert growth < 24 * 1024 * 1024, f"RSS grew by {growth} bytes"
            logs = server.log()
            assert '"reason": "slow_consumer"' in logs
            assert "max_outbound_buffer_bytes" in logs
        finally:
            raw.close()
            await publisher.disconnect()
