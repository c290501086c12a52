"""Socket.IO over a hand-made WebSocket, for tests of clients that misbehave on purpose."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct

from tests.support.apps import APP_KEY
from tests.support.servers import Server


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
        self.send_frame(0x1, text.encode())

    def send_binary(self, data: bytes) -> None:
        self.send_frame(0x2, data)

    def send_frame(self, opcode: int, data: bytes) -> None:
        """One final, masked frame (as a client must send) of any size."""
        mask = os.urandom(4)
        n = len(data)
        header = bytes([0x80 | opcode])
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", n)
        masked = int.from_bytes(data, "big") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")
        self.writer.write(header + mask + masked.to_bytes(n, "big"))

    async def recv_frame(self, timeout: float = 5) -> tuple[int, bytes]:
        """The next frame: ``(opcode, payload)``."""
        b1, b2 = await asyncio.wait_for(self.reader.readexactly(2), timeout)
        n = b2 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
        payload = await asyncio.wait_for(self.reader.readexactly(n), timeout)
        return b1 & 0x0F, payload

    async def recv(self) -> str:
        opcode, payload = await self.recv_frame()
        assert opcode == 1, "expected a text frame"
        return payload.decode()

    async def texts_until_closed(self, timeout: float = 10) -> list[str]:
        """Every text frame until the server closes the WebSocket (a close frame, or the
        end of the TCP stream); fails if it is still open after ``timeout`` seconds."""
        texts: list[str] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0, f"still open after {timeout} s; got {texts}"
            try:
                opcode, payload = await self.recv_frame(left)
            except (asyncio.IncompleteReadError, ConnectionResetError):
                return texts
            if opcode == 0x8:
                return texts
            if opcode == 0x1:
                texts.append(payload.decode())

    async def recv_until(self, prefix: str) -> str:
        for _ in range(20):
            text = await self.recv()
            if text.startswith(prefix):
                return text
        raise AssertionError(f"no frame starting with {prefix}")

    def close(self) -> None:
        self.writer.transport.abort()


async def raw_connected(server: Server) -> tuple[RawSocketIO, str]:
    """A hand-made Socket.IO connection on a direct WebSocket, and its socket id."""
    raw = await RawSocketIO.open(server.port)
    await raw.recv_until("0{")
    raw.send("40" + json.dumps({"key": APP_KEY}))
    established = json.loads((await raw.recv_until('42["connection_established"'))[2:])
    return raw, established[1]["socket_id"]
