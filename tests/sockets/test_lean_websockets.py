"""roomkey's own WebSocket (``performance.lean_websockets``, ``transports/lean_websocket``):
after the upgrade the connection leaves aiohttp (its server no longer lists it) and is served
by roomkey's protocol on both transports, which speaks RFC 6455 as aiohttp did: the frames a
client may not send are refused with the RFC's close codes, fragments and control frames
between them are read, pings answered, a client's close echoed; every socket is let go of
when its client leaves and dropped at shutdown; with the switch off aiohttp serves as before."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import os
import struct
from collections.abc import AsyncIterator
from dataclasses import replace

import aiohttp
import pytest
from aiohttp import WSMsgType, web

from roomkey.app import SOCKETIO
from roomkey.config import PerformanceSettings
from roomkey.internal_sizes import internal_sizes
from roomkey.transports.lean_websocket import LeanWebSocket
from tests.support.apps import APP_KEY, make_settings, make_token
from tests.support.authorize import post_auth
from tests.support.pusher import RawPusherFactory
from tests.support.servers import Server, StartServer
from tests.support.socketio_client import ConnectClient
from tests.support.waiting import wait_for_condition

FRAME_LIMIT = 64 * 1024  # limits.max_pusher_frame_bytes's default
HARD_LIMIT = 4 * FRAME_LIMIT  # past it the frame is refused from its header (1009)


@pytest.fixture
async def pusher() -> AsyncIterator[RawPusherFactory]:
    async with aiohttp.ClientSession() as http:
        yield RawPusherFactory(http)


def upgrade_requests_alive(path: str) -> int:
    """aiohttp request objects still alive for upgrades under ``path`` (after a collection)."""
    gc.collect()
    return sum(
        1 for o in gc.get_objects() if isinstance(o, web.BaseRequest) and o.path.startswith(path)
    )


def aiohttp_connections(server: Server) -> int:
    """The connections aiohttp's server still counts as its own."""
    low_level = server.runner.server
    assert low_level is not None
    return len(low_level.connections)


# -- a hand-made client: exactly the bytes a test wants on the wire --------------------------


def client_frame(
    opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True, rsv: int = 0
) -> bytes:
    first = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    mask_bit = 0x80 if masked else 0
    if n < 126:
        head = bytes((first, mask_bit | n))
    elif n < 65536:
        head = struct.pack("!BBH", first, mask_bit | 126, n)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, n)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def frame(self, timeout: float = 5.0) -> tuple[int, bytes]:
        async with asyncio.timeout(timeout):
            first, second = await self.reader.readexactly(2)
            n = second & 0x7F
            if n == 126:
                n = int.from_bytes(await self.reader.readexactly(2), "big")
            elif n == 127:
                n = int.from_bytes(await self.reader.readexactly(8), "big")
            assert not second & 0x80, "a server's frames are never masked"
            return first & 0x0F, await self.reader.readexactly(n)

    async def text(self) -> dict[str, object]:
        opcode, payload = await self.frame()
        assert opcode == 0x1, (opcode, payload)
        parsed = json.loads(payload)
        assert isinstance(parsed, dict)
        return parsed

    async def close_code(self) -> int:
        """Read until the server's close frame; its code."""
        for _ in range(20):
            opcode, payload = await self.frame()
            if opcode == 0x8:
                # Answer it, as a client does; the server then ends the TCP connection.
                self.writer.write(client_frame(0x8, payload[:2]))
                async with asyncio.timeout(5):
                    assert await self.reader.read() == b""
                self.writer.close()
                return int.from_bytes(payload[:2], "big")
        raise AssertionError("no close frame")

    def close(self) -> None:
        self.writer.close()


async def raw_pusher(server: Server, early: bytes = b"") -> RawClient:
    """A Pusher-protocol socket opened by hand; ``early``: bytes sent in the same write as the
    upgrade request, before the ``101``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /app/{APP_KEY}?protocol=7 HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
        ).encode()
        + early
    )
    async with asyncio.timeout(5):
        head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 101 Switching Protocols", lines
    headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[1:] if line)}
    assert headers["upgrade"].lower() == "websocket"
    # Not negotiated: roomkey's WebSocket has no extension.
    assert "sec-websocket-extensions" not in headers
    client = RawClient(reader, writer)
    first = await client.text()
    assert first["event"] == "pusher:connection_established"
    return client


def ping_frame_text() -> bytes:
    return json.dumps({"event": "pusher:ping", "data": {}}).encode()


# -- taken over, and let go of -----------------------------------------------------------


async def test_a_pusher_socket_leaves_aiohttp_and_is_let_go_of_when_its_client_goes(
    server: Server, pusher: RawPusherFactory
) -> None:
    client = await pusher.established(server)
    sizes = internal_sizes(server.app)
    assert sizes["pusher.lean_websockets"] == 1 and sizes["pusher.connections"] == 1
    assert aiohttp_connections(server) == 0
    # Nothing keeps the upgrade request for the connection's life.
    await wait_for_condition(
        lambda: upgrade_requests_alive("/app/") == 0, "the upgrade request let go of"
    )
    await client.send("pusher:ping")
    assert (await client.next())["event"] == "pusher:pong"
    await client.ws.close(code=1000)
    assert client.ws.close_code == 1000  # the server answered the close frame

    def released() -> bool:
        now = internal_sizes(server.app)
        return (now["pusher.lean_websockets"], now["pusher.connections"], now["pusher.tasks"]) == (
            0,
            0,
            0,
        )

    await wait_for_condition(released, "the socket let go of", timeout=5)


async def test_a_socketio_socket_leaves_aiohttp_and_is_let_go_of_when_its_client_goes(
    server: Server, connect: ConnectClient
) -> None:
    token = make_token("7")
    client = await connect(server, token=token)
    sizes = internal_sizes(server.app)
    assert sizes["socketio.lean_websockets"] == 1
    assert aiohttp_connections(server) == 0
    # The request is not kept with the session: only the few environ keys of the handshake.
    environ = next(iter(server.app[SOCKETIO].sio.environ.values()))
    assert "aiohttp.request" not in environ
    await wait_for_condition(
        lambda: upgrade_requests_alive("/socket.io/") == 0, "the upgrade request let go of"
    )
    # Authorize, subscribe and hear a client event's answer: the connection works end to end.
    status, body, _ = await post_auth(
        server, {"socket_id": client.socket_id, "channel_name": "private-user-7"}, token=token
    )
    assert status == 200, body
    assert await client.subscribe("private-user-7", auth=body["auth"]) == {
        "channel": "private-user-7"
    }
    await client.client.disconnect()

    def released() -> bool:
        now = internal_sizes(server.app)
        return (
            now["socketio.lean_websockets"],
            now["socketio.tasks"],
            now["socketio.connections"],
        ) == (0, 0, 0)

    await wait_for_condition(released, "the socket let go of", timeout=5)


async def test_with_the_switch_off_aiohttp_serves_every_socket(
    start_server: StartServer, pusher: RawPusherFactory, connect: ConnectClient
) -> None:
    settings = replace(make_settings(), performance=PerformanceSettings(lean_websockets=False))
    server = await start_server(settings)
    client = await pusher.established(server)
    sio = await connect(server, token=make_token("7"))
    sizes = internal_sizes(server.app)
    assert sizes["pusher.lean_websockets"] == sizes["socketio.lean_websockets"] == 0
    assert aiohttp_connections(server) == 2
    await client.send("pusher:ping")
    assert (await client.next())["event"] == "pusher:pong"
    assert sio.socket_id


async def test_compression_keeps_aiohttps_websocket(
    start_server: StartServer, pusher: RawPusherFactory
) -> None:
    settings = make_settings(server={"compression": True})
    server = await start_server(settings)
    client = await pusher.established(server, compress=15)
    assert internal_sizes(server.app)["pusher.lean_websockets"] == 0
    assert client.ws.compress  # permessage-deflate was negotiated, as configured


async def test_shutdown_tells_lean_sockets_and_drops_them(
    start_server: StartServer, pusher: RawPusherFactory
) -> None:
    server = await start_server()
    client = await pusher.established(server)
    raw = await raw_pusher(server)
    stopping = asyncio.ensure_future(server.runner.cleanup())
    assert await client.closed_with() == 4200
    # The hand-made client never answers the close frame: dropped when the socket's close
    # wait ends, at the latest when the transport closes.
    assert await raw.close_code() == 4200
    await asyncio.wait_for(stopping, 60)
    assert internal_sizes(server.app)["pusher.lean_websockets"] == 0


# -- RFC 6455 as a server speaks it --------------------------------------------------------


async def test_fragments_and_control_frames_between_them_are_read(server: Server) -> None:
    client = await raw_pusher(server)
    text = ping_frame_text()
    client.writer.write(
        client_frame(0x1, text[:5], fin=False)
        + client_frame(0x9, b"are you there")  # a ping between the fragments
        + client_frame(0x0, text[5:9], fin=False)
        + client_frame(0x0, text[9:])
    )
    opcode, payload = await client.frame()
    assert (opcode, payload) == (0xA, b"are you there")  # the pong, with the ping's payload
    assert (await client.text())["event"] == "pusher:pong"
    # A message cut at every byte arrives whole.
    whole = client_frame(0x1, text)
    for i in range(len(whole)):
        client.writer.write(whole[i : i + 1])
        await client.writer.drain()
    assert (await client.text())["event"] == "pusher:pong"
    client.close()


async def test_what_the_client_sends_with_its_upgrade_request_is_read(server: Server) -> None:
    client = await raw_pusher(server, early=client_frame(0x1, ping_frame_text()))
    assert (await client.text())["event"] == "pusher:pong"
    client.close()


async def test_a_client_close_is_echoed_with_its_code(server: Server) -> None:
    client = await raw_pusher(server)
    client.writer.write(client_frame(0x8, (4321).to_bytes(2, "big") + b"bye"))
    assert await client.close_code() == 4321
    await wait_for_condition(
        lambda: internal_sizes(server.app)["pusher.connections"] == 0,
        "the socket let go of",
        timeout=5,
    )


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (client_frame(0x1, ping_frame_text(), masked=False), 1002),  # clients must mask
        (client_frame(0x1, ping_frame_text(), rsv=0x40), 1002),  # no extension negotiated
        (client_frame(0x3, b"x"), 1002),  # a reserved opcode
        (client_frame(0x0, b"x"), 1002),  # a continuation of nothing
        (client_frame(0x9, b"x" * 126), 1002),  # a control frame over 125 bytes
        (client_frame(0x9, b"x", fin=False), 1002),  # a fragmented control frame
        (client_frame(0x1, b"a", fin=False) + client_frame(0x1, b"b"), 1002),  # no continuation
        (client_frame(0x8, b"\x03"), 1002),  # a close payload of one byte
        (client_frame(0x8, (1005).to_bytes(2, "big")), 1002),  # a code never sent
        (client_frame(0x1, b'{"event":"\xff"}'), 1007),  # text that is not UTF-8
        (client_frame(0x8, (1000).to_bytes(2, "big") + b"\xc3"), 1007),  # nor a close reason
    ],
    ids=[
        "unmasked",
        "reserved-bit",
        "reserved-opcode",
        "lone-continuation",
        "long-control",
        "fragmented-control",
        "interrupted-message",
        "one-byte-close",
        "close-1005",
        "text-not-utf8",
        "reason-not-utf8",
    ],
)
async def test_frames_a_client_may_not_send_end_the_socket_with_the_rfcs_code(
    server: Server, frame: bytes, code: int
) -> None:
    client = await raw_pusher(server)
    client.writer.write(frame)
    assert await client.close_code() == code
    await wait_for_condition(
        lambda: internal_sizes(server.app)["pusher.lean_websockets"] == 0,
        "the socket let go of",
        timeout=5,
    )


async def test_a_frame_past_the_hard_limit_is_refused_from_its_header(server: Server) -> None:
    client = await raw_pusher(server)
    # Only the header and the mask: the server answers before any of the payload arrives.
    header = struct.pack("!BBQ", 0x81, 0x80 | 127, HARD_LIMIT + 1) + os.urandom(4)
    client.writer.write(header)
    assert await client.close_code() == 1009


async def test_a_message_in_fragments_past_the_hard_limit_is_refused(server: Server) -> None:
    client = await raw_pusher(server)
    piece = b"x" * (64 * 1024)
    client.writer.write(
        b"".join(client_frame(0x1 if i == 0 else 0x0, piece, fin=False) for i in range(4))
    )
    client.writer.write(client_frame(0x0, b"y"))
    assert await client.close_code() == 1009


async def test_a_client_sending_faster_than_its_socket_reads_is_paused() -> None:
    # A LeanWebSocket on a real loopback connection, its messages not read: past
    # max_queued_bytes the transport stops reading, so what the server holds is bounded by
    # that (plus one read), not by what the client sends; reading resumes once half is read.
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[LeanWebSocket] = loop.create_future()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ws = LeanWebSocket(max_msg_size=1024, close_timeout=1.0, max_queued_bytes=16 * 1024)
        transport = writer.transport
        assert isinstance(transport, asyncio.Transport)
        transport.set_protocol(ws)
        ws.start(transport, b"")
        accepted.set_result(ws)

    listener = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        ws = await asyncio.wait_for(accepted, 5)
        transport = ws.transport
        assert transport is not None
        message = client_frame(0x1, b"m" * 1000)
        sent = 0
        # Bounded: 4 MB at most, long past the 16 KB the socket may queue.
        while transport.is_reading() and sent < 4000:
            writer.write(message * 50)
            sent += 50
            await writer.drain()
            await asyncio.sleep(0)
        assert not transport.is_reading()
        queued = 0
        while True:
            msg = await ws.receive(timeout=0.2) if transport.is_reading() else await ws.receive()
            assert msg.type is WSMsgType.TEXT and msg.data == "m" * 1000
            queued += 1
            if transport.is_reading():
                break
        # At most max_queued_bytes (plus one read's worth) was held before the pause.
        assert queued * 1064 <= 16 * 1024 + 256 * 1024
    finally:
        writer.close()
        listener.close()
        await listener.wait_closed()
