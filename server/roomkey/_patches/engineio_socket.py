"""A leaner Engine.IO socket: fewer tasks per connection, same packets on the wire.

python-engineio's ``AsyncSocket`` keeps, per WebSocket connection, besides aiohttp's own
tasks: a writer task that waits on its queue through ``asyncio.wait_for`` (a second task per
wait), a fresh task per received message (also under ``wait_for``), and a task that sleeps
through every ping interval. Each is a task object, a coroutine frame and a timer: a few KB per
idle connection. ``LeanSocket`` keeps the same protocol with no task of its own while idle:

- the ping is a timer (``loop.call_later``) that queues the PING packet, not a sleeping task;
- on a WebSocket opened directly (not upgraded from long-polling; see ``engineio_direct``), the
  reader loop runs in the connection's own handler task and waits with aiohttp's receive
  timeout, and the writer is a task that exists only while packets are queued: a put starts
  it, it sends everything queued, in order, and ends. A client silent for ``ping_interval +
  ping_timeout`` is still dropped: by the reader's timeout, and by the server's ping check.

An upgrade from long-polling keeps python-engineio's own handler. ``LeanSocketTable`` is the
server's ``sockets`` dict that turns every new socket into a ``LeanSocket`` (python-engineio
creates its sockets itself and has no factory for them); ``CheckedSocketTable`` turns them into
``CheckedSocket``s when lean sockets are off.

Both kinds refuse what is not Engine.IO, as Engine.IO's reference server does: a WebSocket
message (``engineio_websocket.not_engineio``) or a long-polling body that does not decode
ends the socket, reported once through the server's ``on_not_engineio`` hook, where
python-engineio would raise and log a traceback (and, on a POST, answer 200).

Private parts of python-engineio used here. The check (``CheckedSocket``, a guard with no
safe fallback, see ``checked_shape_problems``): ``AsyncSocket.handle_post_request(environ)``
(overridden), ``receive(pkt)`` and ``close(wait, abort, reason)``; python-engineio builds
every socket as ``engineio.async_server.async_socket.AsyncSocket(server, sid)`` in
``AsyncServer._handle_connect(environ, transport, jsonp_index)`` and stores it with
``sockets[sid] = ...``, where the tables set its ``__class__`` to one of the subclasses here
(the layout is the same: no attribute is added per instance). The lean socket
(``performance.lean_sockets``, see ``lean_shape_problems``): ``_websocket_handler(ws)`` and
``schedule_ping()`` (overridden), the attributes ``last_ping``, ``connected``, ``upgraded``,
``closing`` and ``queue`` that python-engineio's ``BaseSocket`` sets, and the server's
``ping_interval``, ``ping_timeout``, ``max_http_buffer_size`` and ``reason``. Both count on
the queue being ``socketio_queue.MeteredQueue`` (the server's ``create_queue``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from engineio import exceptions, packet, payload
from engineio.async_socket import AsyncSocket

from roomkey._patches.engineio_websocket import not_engineio, report_not_engineio
from roomkey._patches.shape import attributes, method

_PACKET_TYPES = range(len(packet.packet_names))


class CheckedSocket(AsyncSocket):  # type: ignore[misc]
    """python-engineio's socket with its long-polling POST checked (``LeanSocket`` builds on
    it)."""

    # Set by python-engineio's BaseSocket; declared for the type checker.
    closed: bool
    sid: str

    async def handle_post_request(self, environ: dict[str, Any]) -> None:
        """A long-polling POST, as python-engineio handles it, except that a body that is
        not an Engine.IO payload (not UTF-8, a packet that does not decode or has no such
        type, too many packets) raises ``EngineIOError``: python-engineio then ends the session and answers 400, as
        for an oversized body. Packets after one that closed the socket are not read."""
        length = int(environ.get("CONTENT_LENGTH", "0"))
        if length > self.server.max_http_buffer_size:
            raise exceptions.ContentTooLongError()
        body = await environ["wsgi.input"].read(length)
        try:
            packets = payload.Payload(encoded_payload=body.decode("utf-8")).packets
        except (ValueError, KeyError, IndexError):  # UnicodeDecodeError, binascii.Error too
            packets = None
        # python-engineio decodes any digit as a type; past NOOP (6) its receive would fail.
        if packets is None or any(p.packet_type not in _PACKET_TYPES for p in packets):
            report_not_engineio(self.server, self.sid)
            raise exceptions.EngineIOError("not an Engine.IO payload")
        for pkt in packets:
            if self.closed:
                break
            await self.receive(pkt)

    def writer_idle(self) -> bool:
        """True when nothing is queued and no packet is between the queue and the wire, so a
        frame written straight to the transport cannot overtake one
        (``engineio_websocket.idle_websocket``). Here python-engineio's writer sends: it is idle
        while it waits in ``queue.get()`` (``AsyncSocket.poll``), listed in the
        ``MeteredQueue``'s getters with nothing in hand."""
        queue = self.queue
        return not queue._queue and bool(queue._getters)


class LeanSocket(CheckedSocket):
    # Set by python-engineio's BaseSocket; declared for the type checker.
    connected: bool
    upgraded: bool
    _ping_timer: asyncio.TimerHandle | None = None
    # A directly opened WebSocket (``serve_websocket``) and its writer, while one runs.
    _ws: Any = None
    _writer: asyncio.Task[None] | None = None

    def schedule_ping(self) -> None:
        # As python-engineio: only once the previous ping was answered (or at the start).
        if self.last_ping:
            self.last_ping: float | None = None
            self._ping_timer = asyncio.get_running_loop().call_later(
                self.server.ping_interval, self._ping
            )

    def _ping(self) -> None:
        self._ping_timer = None
        if not self.closing and not self.closed:
            self.last_ping = time.time()
            self.queue.put_nowait(packet.Packet(packet.PING))

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None
        await super().close(wait=wait, abort=abort, reason=reason)

    async def _websocket_handler(self, ws: Any) -> None:
        if self.connected or getattr(ws, "response", None) is None:
            # An upgrade from long-polling (or another driver): python-engineio's handler.
            await super()._websocket_handler(ws)
            return
        await self.serve_websocket(ws)

    async def serve_websocket(self, ws: Any) -> None:
        """Serve a directly opened WebSocket ``ws`` (an ``engineio_websocket`` driver, already
        prepared) until the client goes: read in the caller's task (here, with no coroutine
        between this one and aiohttp's ``receive``: each would be a frame kept per idle
        connection), write through a task started by each put when none is running
        (``_kick_writer``)."""
        self.connected = True
        self.upgraded = True
        self._ws = ws
        queue = self.queue
        queue.on_put = self._kick_writer
        if not queue.empty():
            self._kick_writer()  # the OPEN packet, queued before the socket was ready
        receive = ws.response.receive
        wait_seconds = self.server.ping_interval + self.server.ping_timeout
        limit = self.server.max_http_buffer_size
        try:
            while True:
                try:
                    data = (await receive(timeout=wait_seconds)).data
                except (asyncio.CancelledError, Exception):
                    # Timed out, or the handler was cancelled: clean up as engineio does.
                    return
                # Closing or closed (the data is then a close code, an error or None), or
                # over the limit: the end.
                if not isinstance(data, str | bytes) or len(data) > limit:
                    return
                if not_engineio(data):
                    report_not_engineio(self.server, self.sid)
                    return
                try:
                    await self.receive(packet.Packet(encoded_packet=data))
                except exceptions.UnknownPacketError:
                    pass
                except exceptions.SocketIsClosedError:
                    return
                except Exception:
                    self.server.logger.exception("Unknown receive error")
                if self.closed:
                    return  # closed by the server or by the client's CLOSE packet: no more reading
        finally:
            queue.put_nowait(None)  # the writer sends what is queued, then closes the socket
            try:
                writer = self._writer
                if writer is not None:
                    await writer
            finally:
                # Even when the handler is cancelled while the writer ends: aiohttp cancels
                # it once the client has gone when the server runs with
                # ``handler_cancellation`` (aiohttp's TestServer always does). Without this
                # close the socket would never be disconnected: no member_removed, no
                # channel_vacated, the connection counted until shutdown.
                queue.on_put = None  # nothing is sent after the end
                await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)

    def writer_idle(self) -> bool:
        if self._ws is not None:
            # A directly opened WebSocket: its writer exists only while packets are queued.
            return self._writer is None and not self.queue._queue
        return super().writer_idle()

    def _kick_writer(self) -> None:
        if self._writer is None and self._ws is not None:
            self._writer = asyncio.get_running_loop().create_task(self._drain(self._ws))

    async def _drain(self, ws: Any) -> None:
        """Send what is queued, in order, until the queue is empty (then end: the next put
        starts a new writer) or until the ``None`` that ends the socket (then close it)."""
        queue = self.queue
        try:
            while not queue.empty():
                pkt = queue.get_nowait()
                queue.task_done()
                if pkt is None:
                    await ws.close()
                    return
                await ws.send(pkt.encode())
        except Exception:
            # The socket is gone: what is queued can never be sent.
            while not queue.empty():
                queue.get_nowait()
                queue.task_done()
            await ws.close()
        finally:
            self._writer = None


class LeanSocketTable(dict[str, Any]):
    """An Engine.IO server's ``sockets``: each socket stored is made a ``LeanSocket``.

    python-engineio builds its sockets itself (``AsyncServer._handle_connect``) and has no
    factory for them: the one way to give each the checks (and the lean serving) before it
    sees a packet is to set its class as it is stored. That is safe because the subclasses
    add methods only, no per-instance layout (``checked_shape_problems`` tries it)."""

    socket_class: type[AsyncSocket] = LeanSocket

    def __setitem__(self, sid: str, sock: Any) -> None:
        if type(sock) is AsyncSocket:
            sock.__class__ = self.socket_class
        super().__setitem__(sid, sock)


class CheckedSocketTable(LeanSocketTable):
    """An Engine.IO server's ``sockets`` without lean sockets: each is a ``CheckedSocket``."""

    socket_class = CheckedSocket


def checked_shape_problems(
    server_class: type, socket_class: type, built_socket_class: type, eio_server: Any
) -> list[str]:
    """The guard's shape: python-engineio's socket (``socket_class``) has the methods
    ``CheckedSocket`` overrides and calls; its server (``server_class``) builds its sockets
    from ``built_socket_class``, which must be the class ``CheckedSocket`` extends (else the
    tables would pass them by unchecked); and a socket built on ``eio_server`` takes a
    subclass's class in place."""
    problems = [
        *method(socket_class, "handle_post_request", ("environ",), coroutine=True),
        *method(socket_class, "receive", ("pkt",), coroutine=True),
        *method(socket_class, "close", ("wait", "abort", "reason"), coroutine=True),
        *method(
            server_class, "_handle_connect", ("environ", "transport", "jsonp_index"), coroutine=True
        ),
    ]
    if built_socket_class is not AsyncSocket:
        problems.append(
            "AsyncServer no longer builds its sockets from engineio.async_socket.AsyncSocket"
        )
    if problems:
        return problems
    sock = socket_class(eio_server, "probe")
    try:
        sock.__class__ = CheckedSocket
    except TypeError:
        problems.append(f"an {socket_class.__name__}'s class cannot be set to a subclass")
    return problems


def lean_shape_problems(socket_class: type, eio_socket: Any) -> list[str]:
    """The lean socket's shape: the methods ``LeanSocket`` overrides and the attributes it
    reads on python-engineio's socket (``socket_class``, one built as ``eio_socket``)."""
    return [
        *method(socket_class, "_websocket_handler", ("ws",), coroutine=True),
        *method(socket_class, "schedule_ping", (), coroutine=False),
        *attributes(
            eio_socket,
            ("last_ping", "connected", "upgraded", "closing", "closed", "queue"),
            label=socket_class.__name__,
        ),
    ]
