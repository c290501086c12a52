"""roomkey's own WebSocket, taking the connection over from aiohttp after the upgrade
(``performance.lean_websockets``).

An aiohttp ``WebSocketResponse`` keeps, for the connection's whole life, everything that
served the upgrade request: the request handler task and the handler's own task with their
frames, the parsed request (headers, URL, message), the HTTP protocol object with its parser,
the WebSocket reader, data queue and writer: about 10 KB per idle connection, most of what an
idle socket costs. ``accept`` answers the upgrade itself (``101 Switching Protocols``, the
same checks and ``Sec-WebSocket-Accept`` as aiohttp), moves the TCP transport to a
``LeanWebSocket`` protocol and releases aiohttp's side of the connection
(``_patches/aiohttp_takeover``); the request handler then returns ``detached()`` and aiohttp
forgets the connection. What the connection keeps is this protocol object (a few hundred
bytes), the transport, and whatever task the transport runs for it.

``LeanWebSocket`` speaks RFC 6455 as a server, with no extension (a client offering
permessage-deflate is answered without it, which every client accepts; with
``server.compression`` on, aiohttp's WebSocket serves instead) and no subprotocol. It offers
the part of aiohttp's ``WebSocketResponse`` the transports use, with the same meanings:

- ``receive(timeout)`` returns the next message as aiohttp's ``WSMessage``: ``TEXT`` (a
  ``str``), ``BINARY``, then ``CLOSE`` (data: the client's code, extra: its reason) when the
  client closes, ``ERROR`` (data: the ``FrameError``) after a frame the RFC forbids (the close
  frame with its code is sent first), and ``CLOSED`` once the connection is gone; raises
  ``TimeoutError`` after ``timeout`` seconds with nothing;
- pings are answered with pongs as they arrive, pongs ignored;
- ``send_str`` / ``send_bytes`` write one frame and wait while the transport is over its
  high-water mark; they raise ``ConnectionResetError`` once the socket is closing or gone;
- ``close(code, message)`` sends the close frame, waits at most ``close_timeout`` seconds for
  the client's, then closes the transport (aborts it if the client never answered);
- a client's close frame is answered with the same code, and the transport closed.

Received messages wait in a queue bounded in bytes (``max_queued_bytes``, each message
counted as its size plus 64): past it the transport stops reading until the reader catches
up, so a client that floods a socket whose handler is busy fills its own TCP window, not
the server's memory.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import WSMessage, WSMsgType, web

from roomkey._patches.aiohttp_takeover import can_take_over, take_over
from roomkey.transports.websocket_frames import binary_frame, close_frame, control_frame, text_frame
from roomkey.transports.websocket_reader import (
    BINARY,
    CLOSE,
    NO_STATUS,
    PING,
    TEXT,
    FrameError,
    FrameReader,
)

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_VERSIONS = ("13", "8", "7")
# What each queued message is counted as beyond its payload (the message tuple, the deque slot).
_MESSAGE_OVERHEAD = 64

_CLOSED = WSMessage(WSMsgType.CLOSED, None, None)


def upgrade_problem(request: web.Request) -> str | None:
    """Why ``request`` is not a WebSocket upgrade roomkey can accept (None: it is): the
    ``Upgrade`` and ``Connection`` headers, a ``Sec-WebSocket-Version`` of 13 (or the drafts 7
    and 8 aiohttp also accepts) and a ``Sec-WebSocket-Key`` of 16 bytes in base64."""
    headers = request.headers
    if headers.get("Upgrade", "").strip().lower() != "websocket":
        return "not a WebSocket upgrade (Upgrade: websocket)"
    tokens = {t.strip().lower() for t in headers.get("Connection", "").split(",")}
    if "upgrade" not in tokens:
        return "not a WebSocket upgrade (Connection: upgrade)"
    if headers.get("Sec-WebSocket-Version", "") not in _VERSIONS:
        return "unsupported Sec-WebSocket-Version (13 expected)"
    if _accept_value(headers.get("Sec-WebSocket-Key", "")) is None:
        return "malformed Sec-WebSocket-Key"
    return None


def _accept_value(key: str) -> str | None:
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            return None
    except (binascii.Error, ValueError):
        return None
    # SHA-1 is what RFC 6455 prescribes for this header; it protects nothing.
    digest = hashlib.sha1(key.encode() + _GUID, usedforsecurity=False).digest()
    return base64.b64encode(digest).decode()


def handshake_response(key: str) -> bytes:
    """The ``101 Switching Protocols`` answer to a valid ``Sec-WebSocket-Key``."""
    accept = _accept_value(key)
    if accept is None:
        raise ValueError("malformed Sec-WebSocket-Key")
    return (
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n"
        "\r\n"
    ).encode()


class LeanWebSocket(asyncio.Protocol):
    """One WebSocket connection after the upgrade (see the module's docstring)."""

    __slots__ = (
        "_drain",
        "_heard_close",
        "_inbox",
        "_inbox_bytes",
        "_lost",
        "_on_lost",
        "_peer_closed",
        "_reader",
        "_reading_paused",
        "_sent_close",
        "_waiter",
        "_writing_paused",
        "close_code",
        "close_timeout",
        "max_queued_bytes",
        "transport",
    )

    # Read by the transports as on aiohttp's WebSocketResponse: roomkey's never compresses.
    compress = False

    def __init__(
        self,
        *,
        max_msg_size: int,
        close_timeout: float,
        max_queued_bytes: int,
        on_lost: Callable[[LeanWebSocket], None] | None = None,
    ) -> None:
        self.transport: asyncio.Transport | None = None
        self.close_code: int | None = None
        self.close_timeout = close_timeout
        self.max_queued_bytes = max_queued_bytes
        self._reader = FrameReader(max_msg_size)
        self._inbox: deque[WSMessage] | None = None  # made when a message waits
        self._inbox_bytes = 0
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._peer_closed: asyncio.Future[None] | None = None
        self._writing_paused = False
        self._reading_paused = False
        self._sent_close = False
        self._heard_close = False
        self._lost = False
        self._on_lost = on_lost

    # -- asyncio's side ----------------------------------------------------------------

    def start(self, transport: asyncio.Transport, early: bytes) -> None:
        """Take ``transport`` over (already switched to this protocol) and read ``early``:
        what the client sent after its upgrade request, before the switch."""
        self.transport = transport
        if not transport.is_reading():
            transport.resume_reading()
        if early:
            self.data_received(early)

    def data_received(self, data: bytes) -> None:
        if self._lost or self._heard_close:
            return
        try:
            messages = self._reader.feed(data)
        except FrameError as exc:
            self._fail(exc)
            return
        for opcode, payload in messages:
            if opcode == TEXT:
                self._put(WSMessage(WSMsgType.TEXT, payload, None), len(payload))
            elif opcode == BINARY:
                self._put(WSMessage(WSMsgType.BINARY, payload, None), len(payload))
            elif opcode == PING:
                if not self._sent_close:
                    self._write(control_frame(0xA, payload))
            elif opcode == CLOSE:
                self._on_close_frame(*payload)
                return

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        if self.close_code is None:
            self.close_code = 1006
        self._put(_CLOSED, 0)
        for future in (self._drain, self._peer_closed):
            if future is not None and not future.done():
                future.set_result(None)
        self.transport = None
        on_lost = self._on_lost
        self._on_lost = None
        if on_lost is not None:
            on_lost(self)

    # -- the transports' side (aiohttp's WebSocketResponse's, in part) -----------------

    @property
    def closed(self) -> bool:
        """True once a close frame went either way, or the connection is gone."""
        return self._sent_close or self._heard_close or self._lost

    async def receive(self, timeout: float | None = None) -> WSMessage:  # noqa: ASYNC109
        inbox = self._inbox
        if inbox:
            return self._take(inbox)
        if self._lost:
            return _CLOSED
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        expiry = None if timeout is None else loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if expiry is not None:
                expiry.cancel()
        inbox = self._inbox
        return self._take(inbox) if inbox else _CLOSED

    async def send_str(self, data: str, compress: int | None = None) -> None:
        await self._send(text_frame(data))

    async def send_bytes(self, data: bytes, compress: int | None = None) -> None:
        await self._send(binary_frame(data))

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        """Send the close frame (once), wait at most ``close_timeout`` seconds for the
        client's, then close the transport. False if it was already closing or gone."""
        if self._sent_close or self._lost:
            return False
        self._sent_close = True
        self.close_code = code
        transport = self.transport
        if transport is None:
            return False
        transport.write(close_frame(code, message))
        if self._heard_close:
            transport.close()
            return True
        peer = self._peer_closed = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(self.close_timeout):
                await peer
        except TimeoutError:
            if self.transport is not None:
                self.transport.abort()
            return True
        if self.transport is not None:
            self.transport.close()
        return True

    def abort(self) -> None:
        """Drop the TCP connection now (shutdown, a client that stopped reading)."""
        if self.transport is not None:
            self.transport.abort()

    # -- inside ------------------------------------------------------------------------

    def _put(self, message: WSMessage, size: int) -> None:
        inbox = self._inbox
        if inbox is None:
            inbox = self._inbox = deque()
        inbox.append(message)
        self._inbox_bytes += size + _MESSAGE_OVERHEAD
        if (
            not self._reading_paused
            and self._inbox_bytes > self.max_queued_bytes
            and self.transport is not None
        ):
            self._reading_paused = True
            self.transport.pause_reading()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _take(self, inbox: deque[WSMessage]) -> WSMessage:
        message = inbox.popleft()
        if message is _CLOSED:
            inbox.appendleft(message)  # every later receive sees it too
            return message
        data = message.data
        self._inbox_bytes -= (len(data) if isinstance(data, str | bytes) else 0) + _MESSAGE_OVERHEAD
        if not inbox:
            self._inbox = None
        if (
            self._reading_paused
            and self._inbox_bytes <= self.max_queued_bytes // 2
            and self.transport is not None
        ):
            self._reading_paused = False
            self.transport.resume_reading()
        return message

    def _write(self, frame: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(frame)

    async def _send(self, frame: bytes) -> None:
        transport = self.transport
        if self._sent_close or transport is None or transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")
        transport.write(frame)
        if self._writing_paused:
            drain = self._drain
            if drain is None or drain.done():
                drain = self._drain = asyncio.get_running_loop().create_future()
            await drain
            if self._lost:
                raise ConnectionResetError("Connection lost")

    def _on_close_frame(self, code: int, reason: str) -> None:
        self._heard_close = True
        transport = self.transport
        if self._sent_close:
            # The answer to our close: ``close`` ends the transport.
            peer = self._peer_closed
            if peer is not None and not peer.done():
                peer.set_result(None)
            elif transport is not None:
                transport.close()
            return
        self.close_code = code
        self._sent_close = True
        if transport is not None:
            # Echo the client's code (none: 1000), then end the TCP connection.
            transport.write(close_frame(1000 if code == NO_STATUS else code, b""))
            transport.close()
        self._put(WSMessage(WSMsgType.CLOSE, code, reason), 0)

    def _fail(self, exc: FrameError) -> None:
        """A frame the RFC forbids: the close frame with its code, then the end."""
        self.close_code = exc.code
        self._sent_close = True
        transport = self.transport
        if transport is not None:
            transport.write(close_frame(exc.code, str(exc).encode()[:123]))
            transport.close()
        self._put(WSMessage(WSMsgType.ERROR, exc, None), 0)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def detached() -> web.StreamResponse:
    """What a handler that took its connection over returns: a response that writes nothing
    (the ``101`` went out with the takeover), so aiohttp sends nothing more and lets go."""
    return _Detached(status=101)


class _Detached(web.StreamResponse):
    async def prepare(self, request: Any) -> None:
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


AnyWebSocket = web.WebSocketResponse | LeanWebSocket


class WebSocketTakeovers:
    """The lean WebSockets one transport opened: ``accept`` takes a connection over, and
    ``abort_all`` drops whatever is still open when the transport closes (aiohttp's shutdown
    no longer knows these connections)."""

    def __init__(self) -> None:
        self._open: set[LeanWebSocket] = set()

    def __len__(self) -> int:
        return len(self._open)

    @staticmethod
    def usable(request: web.Request, *, lean: bool, compression: bool) -> bool:
        """Whether ``request`` is served by a ``LeanWebSocket``: ``performance.lean_websockets``
        on (``lean``), ``server.compression`` off, and a connection that can be moved."""
        return lean and not compression and can_take_over(request)

    def accept(
        self,
        request: web.Request,
        *,
        max_msg_size: int,
        close_timeout: float,
        max_queued_bytes: int,
    ) -> LeanWebSocket:
        """Answer ``request``'s upgrade (``upgrade_problem`` must have found none) and take
        its connection over; the handler then returns ``detached()``."""
        ws = LeanWebSocket(
            max_msg_size=max_msg_size,
            close_timeout=close_timeout,
            max_queued_bytes=max_queued_bytes,
            on_lost=self._open.discard,
        )
        self._open.add(ws)
        take_over(request, ws, handshake_response(request.headers["Sec-WebSocket-Key"]))
        return ws

    def abort_all(self) -> None:
        for ws in list(self._open):
            ws.abort()


__all__ = [
    "AnyWebSocket",
    "LeanWebSocket",
    "WebSocketTakeovers",
    "detached",
    "handshake_response",
    "upgrade_problem",
]
