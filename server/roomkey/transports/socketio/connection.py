"""One Socket.IO client as the hub sees it: packets queued on its Engine.IO socket.

``deliver`` never blocks: the message's packet (encoded once per message, ``wire``) is put on
the Engine.IO socket's queue, whose writer task sends it. The queue counts its bytes
(``MeteredQueue``); past ``limits.max_outbound_buffer_bytes`` the client is not reading: what
is queued is dropped, an ``error`` event (4100) is left for it should it ever read again, the
socket is aborted and the drop reported once through ``on_overflow`` (the runtime counts and
logs it).

With ``performance.direct_writes`` a delivery's WebSocket frame is built once per message and
written straight to the socket's transport when the Engine.IO writer holds nothing
(``_patches/engineio_websocket.idle_websocket``) and the wire takes it as is
(``websocket_frames.can_write_now``); otherwise it is queued as above, so that order and
bytes on the wire are the same either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from engineio import packet as eio_packet

from roomkey._patches import engineio_websocket
from roomkey._patches.socketio_queue import MeteredQueue
from roomkey.config import AppSettings
from roomkey.core.channels import new_socket_id
from roomkey.core.errors import RoomkeyError
from roomkey.core.protocol import Outbound
from roomkey.hub.connection import Connection
from roomkey.identity.base import Identity
from roomkey.refusals import slow_consumer
from roomkey.transports.socketio.wire import (
    FRAME_KEY,
    ack_packet,
    encode_outbound,
    event_packet,
    frame_text,
)
from roomkey.transports.websocket_frames import can_write_now, message_frame

Spawn = Callable[[Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]


class SocketIOConnection(Connection):
    transport = "socketio"
    __slots__ = (
        "_direct_writes",
        "_disconnect",
        "_eio_socket",
        "_on_overflow",
        "_spawn",
        "sid",
        "tcp",
    )

    def __init__(
        self,
        app: AppSettings,
        sid: str,
        *,
        identity: Identity | None,
        address: str,
        direct_writes: bool,
        spawn: Spawn,
        disconnect: Callable[[str], Coroutine[Any, Any, None]],
        on_overflow: Callable[[Connection, RoomkeyError], None],
    ) -> None:
        """``sid``: the Socket.IO session id (the socket id the hub knows is new and roomkey's).
        ``spawn`` starts a task the transport owns; ``disconnect(sid)`` ends the Socket.IO
        session (``close``); ``on_overflow`` hears once of a client dropped for not reading."""
        super().__init__(app, new_socket_id(), identity, address)
        self.sid = sid
        self._direct_writes = direct_writes
        self._spawn = spawn
        self._disconnect = disconnect
        self._on_overflow = on_overflow
        self._eio_socket: Any = None  # set once the CONNECT packet went out (``attach_socket``)
        self.tcp: asyncio.Transport | None = None  # when the socket is a direct WebSocket

    def attach_socket(self, eio_socket: Any) -> None:
        self._eio_socket = eio_socket

    def _put(self, pkt: eio_packet.Packet) -> None:
        sock = self._eio_socket
        if sock is None or sock.closed or self.closed:
            return
        queue = sock.queue
        queue.put_nowait(pkt)
        limit = self.app.limits.max_outbound_buffer_bytes
        if limit and isinstance(queue, MeteredQueue) and queue.bytes > limit:
            self._drop_slow(queue, limit)

    def deliver(self, message: Outbound) -> None:
        sock = self._eio_socket
        if sock is None or sock.closed or self.closed:
            return
        if self._direct_writes:
            ws = engineio_websocket.idle_websocket(sock)
            if ws is not None:
                tcp = ws.transport
                limit = self.app.limits.max_outbound_buffer_bytes
                if can_write_now(tcp, compressed=ws.compressed, max_buffered=limit):
                    tcp.write(message_frame(message, FRAME_KEY, frame_text))
                    return
        self._put(encode_outbound(message))

    def after_answer(self, followup: Coroutine[Any, Any, None]) -> None:
        """Run ``followup`` (what the hub sends after a subscribe's or a sign-in's answer)
        once the answer being returned is queued. python-socketio queues a handler's
        acknowledgement as soon as the handler returns, with no pause between (an
        unbounded queue's put); a task started now takes its first step on the loop's next
        turn, after that. tests/sockets/test_cache_channels.py checks the order."""
        self._spawn(followup)

    def emit(self, event: str, payload: Any) -> None:
        self._put(event_packet(event, payload))

    def acknowledge(self, ack_id: int, payload: Any) -> None:
        """Answer the client's request ``ack_id`` with ``payload``."""
        self._put(ack_packet(ack_id, payload))

    def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.emit("error", {"code": code, "message": reason})
        self.closed = True
        self._spawn(self._disconnect(self.sid))

    def _drop_slow(self, queue: MeteredQueue, limit: int) -> None:
        """The client stopped reading: free what is queued for it, tell it why (should it ever
        read again) and drop the socket without waiting for the queue to drain."""
        queue.drop_all()
        exc = slow_consumer(limit)
        queue.put_nowait(event_packet("error", exc.as_dict()))
        self.closed = True
        self._on_overflow(self, exc)
        if self.tcp is not None:
            self.tcp.abort()
        self._spawn(self._eio_socket.close(wait=False, abort=True))
