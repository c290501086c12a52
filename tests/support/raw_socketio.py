"""Socket.IO over a hand-made WebSocket, for tests of clients that misbehave on purpose."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct


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
