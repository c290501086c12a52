"""A thin raw WebSocket client on asyncio, fast enough to load a server from one core.

It speaks RFC 6455 directly (upgrade, masked client frames, unmasked server frames, and
``permessage-deflate`` when offered and accepted) and hands each text message to a callback.
No library client is used on purpose: python-socketio's client, and even aiohttp's, spend more
CPU per message than the servers under test, which would make the load generator the
bottleneck. Only ``127.0.0.1`` is ever dialled by the benchmark.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import zlib
from collections.abc import Callable

DEFLATE_OFFER = "permessage-deflate; client_max_window_bits"
_TAIL = b"\x00\x00\xff\xff"


class HandshakeError(Exception):
    pass


class WsClient(asyncio.Protocol):
    """One connection. ``on_text(client, text)`` runs for every complete text message."""

    def __init__(self, on_text: Callable[[WsClient, str], None]) -> None:
        self.on_text = on_text
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.inflate: zlib._Decompress | None = None
        self.deflate_accepted = False
        self._fragments: list[bytes] = []
        self._fragment_compressed = False

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(HandshakeError(f"connection lost: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).decode("latin-1")
            del self.buf[: end + 4]
            if not head.startswith("HTTP/1.1 101"):
                self.handshake.set_exception(HandshakeError(head.split("\r\n", 1)[0]))
                assert self.transport is not None
                self.transport.close()
                return
            if "permessage-deflate" in head.lower():
                self.deflate_accepted = True
                self.inflate = zlib.decompressobj(-15)
            self.upgraded = True
            self.handshake.set_result(None)
        self._frames()

    # -- frames -------------------------------------------------------------------------

    def _frames(self) -> None:
        buf = self.buf
        pos = 0
        size = len(buf)
        while size - pos >= 2:
            b0 = buf[pos]
            n = buf[pos + 1] & 0x7F
            start = pos + 2
            if n == 126:
                if size - pos < 4:
                    break
                (n,) = struct.unpack_from("!H", buf, pos + 2)
                start = pos + 4
            elif n == 127:
                if size - pos < 10:
                    break
                (n,) = struct.unpack_from("!Q", buf, pos + 2)
                start = pos + 10
            end = start + n
            if end > size:
                break
            self._frame(b0, bytes(buf[start:end]))
            pos = end
        if pos:
            del buf[:pos]

    def _frame(self, b0: int, payload: bytes) -> None:
        opcode = b0 & 0x0F
        fin = b0 & 0x80
        if opcode == 0x9:  # ping -> pong
            self._send(0xA, payload)
            return
        if opcode == 0x8:
            assert self.transport is not None
            self.transport.close()
            return
        if opcode in (0x1, 0x2):
            self._fragment_compressed = bool(b0 & 0x40)
            if fin:
                self._message(payload, self._fragment_compressed)
            else:
                self._fragments = [payload]
        elif opcode == 0x0:
            self._fragments.append(payload)
            if fin:
                self._message(b"".join(self._fragments), self._fragment_compressed)
                self._fragments = []

    def _message(self, payload: bytes, compressed: bool) -> None:
        if compressed:
            assert self.inflate is not None
            payload = self.inflate.decompress(payload + _TAIL)
        self.on_text(self, payload.decode())

    # -- sending ------------------------------------------------------------------------

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        assert self.transport is not None
        self.transport.write(head + mask + masked)

    def send_text(self, text: str) -> None:
        self._send(0x1, text.encode())

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._send(0x8, struct.pack("!H", 1000))
            self.transport.close()


async def open_ws(
    host: str,
    port: int,
    path: str,
    on_text: Callable[[WsClient, str], None],
    *,
    deflate: bool = False,
    timeout: float = 10.0,
    local_host: str | None = None,
) -> WsClient:
    """Connect (from ``local_host``, a loopback address, when given) and upgrade; raises
    ``HandshakeError`` or ``TimeoutError``."""
    loop = asyncio.get_running_loop()
    local_addr = (local_host, 0) if local_host is not None else None
    _, client = await asyncio.wait_for(
        loop.create_connection(lambda: WsClient(on_text), host, port, local_addr=local_addr),
        timeout,
    )
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if deflate:
        lines.append(f"Sec-WebSocket-Extensions: {DEFLATE_OFFER}")
    assert client.transport is not None
    client.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    try:
        await asyncio.wait_for(client.handshake, timeout)
    except BaseException:
        client.transport.close()
        raise
    return client
