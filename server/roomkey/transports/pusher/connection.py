"""One Pusher-protocol socket as the hub sees it: a bounded outbound buffer and its writer.

``deliver`` and ``send`` never block: they append the (already encoded) frame to a buffer
bounded in bytes (``limits.max_outbound_buffer_bytes``) and start the socket's writer if none
runs: one task at a time per socket, which sends the buffer in order, each send bounded by a
timeout, and ends once the buffer is empty (an idle socket has no task, no buffer and no wake
event: about 2 KB less per connection than a writer waiting for work). A client that cannot
keep up is closed with 4100 (Pusher's "over capacity": clients back off and reconnect), its
buffer dropped, and reported once through ``on_overflow`` (the runtime counts and logs it).
``close`` is asynchronous: what is queued goes out first, then ``pusher:error`` and the close
frame with the code.

With ``performance.direct_writes`` a delivery is framed once per message (WebSocket bytes,
cached on the message) and written straight to the socket's transport when that cannot change
what the client sees: no writer runs (so nothing is queued or in flight), and the wire takes
the frame as is (``websocket_frames.can_write_now``: no compression, the transport buffers at
most the outbound limit). Otherwise it is queued as above. That saves a task and a
``send_str`` per recipient per message.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from roomkey.config import AppSettings
from roomkey.core.errors import RoomkeyError
from roomkey.core.protocol import Outbound
from roomkey.hub.connection import Connection
from roomkey.identity.base import Identity
from roomkey.logs import log_event
from roomkey.refusals import close_reason, slow_consumer
from roomkey.transports.lean_websocket import AnyWebSocket
from roomkey.transports.pusher.wire import FRAME_KEY, encode_outbound, error_frame
from roomkey.transports.websocket_frames import can_write_now, message_frame

log = logging.getLogger("roomkey.pusher")


class PusherConnection(Connection):
    transport = "pusher"
    __slots__ = (
        "_abort",
        "_buffer",
        "_buffered_bytes",
        "_compressed",
        "_max_buffer_bytes",
        "_on_overflow",
        "_spawn",
        "_tcp",
        "_write_timeout",
        "_ws",
        "closing",
        "writer",
    )

    def __init__(
        self,
        app: AppSettings,
        socket_id: str,
        *,
        ws: AnyWebSocket,
        identity: Identity | None,
        address: str,
        write_timeout: float,
        abort: Callable[[], None],
        tcp: asyncio.Transport | None,
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
        on_overflow: Callable[[Connection, RoomkeyError], None],
    ) -> None:
        """``ws``: the prepared WebSocket. ``write_timeout``: seconds each send may take (the
        close frame twice that); past it, or on a failed write, ``abort`` drops the TCP
        connection. ``tcp``: the socket's transport, for direct writes (None: always queue).
        ``spawn`` starts a writer task the transport owns; ``on_overflow`` hears once of a
        client dropped for not reading."""
        super().__init__(app, socket_id, identity, address)
        self._ws = ws
        self._write_timeout = write_timeout
        self._abort = abort
        self._on_overflow = on_overflow
        self._buffer: deque[str] | None = None  # made when something is queued
        self._buffered_bytes = 0
        self._max_buffer_bytes = app.limits.max_outbound_buffer_bytes
        self.closing: tuple[int, str] | None = None
        self._tcp = tcp
        # Settled by the handshake (``ws`` is prepared before the connection is made).
        self._compressed = bool(ws.compress)
        self._spawn = spawn
        # The writer while one runs: none means nothing is queued or in flight, so a direct
        # write cannot overtake a frame between the buffer and the wire.
        self.writer: asyncio.Task[None] | None = None

    # -- the hub's side ----------------------------------------------------------------

    def deliver(self, message: Outbound) -> None:
        tcp = self._tcp
        # No writer: nothing is queued or in flight that the frame could overtake.
        if (
            self.writer is None
            and self.closing is None
            and can_write_now(tcp, compressed=self._compressed, max_buffered=self._max_buffer_bytes)
        ):
            tcp.write(message_frame(message, FRAME_KEY, encode_outbound))
            return
        self.send(encode_outbound(message))

    def send(self, text: str) -> None:
        """Queue one frame for the writer. Never blocks, never raises. Nothing is queued
        once the socket is closing or gone (a failed write, the hub's disconnect)."""
        if self.closing is not None or self.closed:
            return
        size = len(text)
        if self._buffered_bytes + size > self._max_buffer_bytes:
            if self._buffer is not None:
                self._buffer.clear()
            self._buffered_bytes = 0
            exc = slow_consumer(self._max_buffer_bytes)
            self.close(exc.code, exc.message)
            self._on_overflow(self, exc)
            return
        self._queue(text)
        self._buffered_bytes += size

    def close(self, code: int, reason: str) -> None:
        if self.closing is not None:
            return
        self.closing = (code, reason)
        self.closed = True
        self._queue(error_frame(code, reason))

    def _queue(self, text: str) -> None:
        buffer = self._buffer
        if buffer is None:
            buffer = self._buffer = deque()
        buffer.append(text)
        if self.writer is None:
            self.writer = self._spawn(self._write())

    # -- the writer --------------------------------------------------------------------

    async def _write(self) -> None:
        """Send queued frames in order until none is left (then end: the next one queued
        starts a new writer); after ``close``, the close frame last."""
        ws = self._ws
        buffer = self._buffer
        try:
            # asyncio.wait_for, not tasks.within: on Python 3.11 it runs each send as a task
            # of its own, and those loop turns let a client on the same event loop answer the
            # close frame before aiohttp drops the transport; with ``within`` it sees 1006,
            # not the code (tests/sockets/test_terminate_identities.py).
            while buffer:
                text = buffer.popleft()
                self._buffered_bytes -= len(text)
                await asyncio.wait_for(ws.send_str(text), self._write_timeout)
            if self.closing is not None:
                code, reason = self.closing
                await asyncio.wait_for(
                    ws.close(code=code, message=close_reason(reason)), self._write_timeout * 2
                )
        except (TimeoutError, ConnectionError, RuntimeError) as exc:
            # The peer is gone or not reading: drop the TCP connection; the reader ends.
            log_event(
                log,
                logging.INFO,
                "pusher socket write failed",
                app=self.app.id,
                socket_id=self.socket_id,
                error=type(exc).__name__,
            )
            self.closed = True
            self._abort()
        finally:
            self.writer = None
            if not buffer:
                self._buffer = None  # an idle socket keeps no buffer
