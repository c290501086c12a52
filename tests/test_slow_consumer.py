"""A client that stops reading is dropped once its outbound buffer overflows, and the server's
memory stays flat while a channel it joined receives a steady stream."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from typing import Any

import socketio

from roomkey.signing import sign_channel
from tests.serve_process import ServeProcess, serve_process

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


class RawSocketIO:
    """Socket.IO over a hand-made WebSocket: a tiny receive buffer, and it stops reading
    whenever the test says so (asyncio's StreamReader then pauses the socket)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> RawSocketIO:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert b" 101 " in head.split(b"\r\n")[0]
        return cls(reader, writer)

    def send(self, text: str) -> None:
        data = text.encode()
        mask = os.urandom(4)
        n = len(data)
        header = bytes([0x81])
        if n < 126:
            header += bytes([0x80 | n])
        else:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        self.writer.write(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    async def recv(self) -> str:
        b1, b2 = await asyncio.wait_for(self.reader.readexactly(2), 5)
        n = b2 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
        payload = await asyncio.wait_for(self.reader.readexactly(n), 5)
        assert b1 & 0x0F == 1, "expected a text frame"
        return payload.decode()

    async def recv_until(self, prefix: str) -> str:
        for _ in range(20):
            text = await self.recv()
            if text.startswith(prefix):
                return text
        raise AssertionError(f"no frame starting with {prefix}")

    def close(self) -> None:
        self.writer.transport.abort()


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


def slow_drops(server: ServeProcess) -> float:
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
            # Keep streaming: nobody buffers for the dropped client any more.
            await publish(publisher, channel, 400)
            growth = server.rss_bytes() - rss_before
            # 8 KB x (sent + 400) events went through; without the bound the queue alone
            # would hold most of them. Allow a generous margin for allocator noise.
            assert growth < 24 * 1024 * 1024, f"RSS grew by {growth} bytes"
            logs = server.logs()
            assert '"reason": "slow_consumer"' in logs
            assert "max_outbound_buffer_bytes" in logs
        finally:
            raw.close()
            await publisher.disconnect()
