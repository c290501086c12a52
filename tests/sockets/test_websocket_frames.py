"""The WebSocket frames both transports write themselves (``transports/websocket_frames``):
byte for byte what aiohttp writes for ``send_str``, and the gate that lets them go straight to
a socket's transport."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from roomkey.transports.websocket_frames import can_write_now, text_frame

# Every length encoding of RFC 6455 (7-bit, 16-bit, 64-bit) on both sides of its bounds, and
# characters of 2 and 4 bytes (the length counts bytes, not characters).
TEXTS = ["", "a", "x" * 125, "x" * 126, "é" * 63, "é" * 64, "x" * 65535, "x" * 65536, "🙂" * 20000]


async def _aiohttp_sends(texts: list[str]) -> bytes:
    """What an aiohttp WebSocket without compression writes for ``send_str`` of ``texts``,
    read as raw bytes by a hand-made client on loopback."""

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        for text in texts:
            await ws.send_str(text)
        await ws.receive()  # until the client goes
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    await web.SockSite(runner, listening).start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        expected = sum(len(text_frame(t)) for t in texts)
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
            assert b" 101 " in head.split(b"\r\n")[0]
            data = await reader.readexactly(expected)
        writer.close()
        return data
    finally:
        await runner.cleanup()


async def test_text_frames_are_what_aiohttp_writes() -> None:
    assert await _aiohttp_sends(TEXTS) == b"".join(text_frame(t) for t in TEXTS)


@pytest.fixture
async def loopback() -> AsyncIterator[asyncio.Transport]:
    """A client transport connected to a loopback server that never reads."""
    accepted: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accepted.put(writer)

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, client = await asyncio.open_connection("127.0.0.1", port)
    async with asyncio.timeout(5):
        peer = await accepted.get()
    transport = client.transport
    assert isinstance(transport, asyncio.Transport)
    yield transport
    transport.abort()
    peer.close()
    server.close()
    await server.wait_closed()


async def test_the_gate_opens_only_for_an_open_uncompressed_transport_within_its_limit(
    loopback: asyncio.Transport,
) -> None:
    transport = loopback
    assert can_write_now(transport, compressed=False, max_buffered=0)
    assert not can_write_now(None, compressed=False, max_buffered=0)
    assert not can_write_now(transport, compressed=True, max_buffered=0)
    # A peer that does not read: what the kernel cannot take stays in the transport.
    transport.write(b"x" * (64 * 1024 * 1024))
    held = transport.get_write_buffer_size()
    assert held > 0
    assert not can_write_now(transport, compressed=False, max_buffered=held - 1)
    assert can_write_now(transport, compressed=False, max_buffered=held)
    transport.close()
    assert not can_write_now(transport, compressed=False, max_buffered=held)
