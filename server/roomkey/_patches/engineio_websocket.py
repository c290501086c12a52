"""The Engine.IO WebSocket wrapper for aiohttp, with permessage-deflate under roomkey's control.

python-engineio's aiohttp driver opens every WebSocket with aiohttp's default
``compress=True``, so any client that offers permessage-deflate (every browser does) gets a
zlib compressor and decompressor per connection: about 100 KB of memory per idle socket, and
a compression pass per delivery. It has no setting for it. ``install`` swaps in this wrapper on
one Engine.IO server (its own copy of the driver table, never the shared module dict), which
opens the socket with ``compress`` taken from ``server.compression``.

The wrapper also makes itself known to its Engine.IO socket so that ``idle_websocket`` can
hand the transport over for an already framed delivery when that cannot change what the
client sees (``performance.direct_writes``), and it ends a socket (upgraded from long-polling) whose
client sends a message that is not an Engine.IO packet (``not_engineio``), as Engine.IO's
reference server does, instead of letting python-engineio's handler raise on it.

Private parts of python-engineio used here: the server's driver table ``_async`` (its
``"websocket"`` entry, replaced on the server's own copy); the aiohttp driver class
``engineio.async_drivers.aiohttp.WebSocket`` (subclassed: built as ``(handler, server)``, its
``_sock``, ``handler``, ``server`` and ``environ``, ``__call__(environ)``, ``wait()``), built
by ``AsyncSocket._upgrade_websocket`` with the socket's bound ``_websocket_handler`` (whose
``__self__`` is how the wrapper finds its socket). ``idle_websocket`` reads the socket's
``upgrading`` and asks it ``writer_idle`` (``engineio_socket``), which relies on
python-engineio's writer waiting for packets in ``queue.get()`` (``AsyncSocket.poll``).
``shape_problems`` and ``direct_write_shape_problems`` check these at start-up.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from aiohttp import web
from engineio.async_drivers import aiohttp as eio_aiohttp

from roomkey._patches.shape import attributes, method


def websocket_factory(compress: bool) -> type[Any]:
    """An Engine.IO ``websocket`` driver class whose sockets use ``compress``."""

    class WebSocket(eio_aiohttp.WebSocket):  # type: ignore[misc]
        transport: asyncio.Transport | None = None
        compressed = True
        # The prepared WebSocket (``open``): what ``LeanSocket.serve_websocket`` reads from.
        response: web.WebSocketResponse | None = None

        async def open(self, request: web.Request) -> web.WebSocketResponse:
            """Answer the upgrade: the WebSocket, with ``compress`` as configured."""
            sock = web.WebSocketResponse(
                max_msg_size=self.server.max_http_buffer_size, compress=compress
            )
            self._sock = sock
            await sock.prepare(request)
            self.response = sock
            transport = request.transport
            self.transport = transport if isinstance(transport, asyncio.Transport) else None
            self.compressed = bool(sock.compress)
            return sock

        def adopt(self, lean: Any) -> None:
            """Serve on ``lean``, a ``transports/lean_websocket.LeanWebSocket`` that has
            already answered the upgrade (``engineio_direct``)."""
            self._sock = lean
            self.response = lean
            self.transport = lean.transport
            self.compressed = False

        async def wait(self) -> Any:
            """The next message (python-engineio's upgraded-socket handler reads with this);
            ``OSError`` (to that handler: the socket is gone) for one that is not an
            Engine.IO packet, after reporting it (``report_not_engineio``)."""
            data = await super().wait()
            if not_engineio(data):
                eio_socket = getattr(self.handler, "__self__", None)
                report_not_engineio(self.server, getattr(eio_socket, "sid", None))
                raise OSError("not an Engine.IO packet")
            return data

        async def __call__(self, environ: dict[str, Any]) -> web.WebSocketResponse:
            # python-engineio's way in (an upgrade from long-polling).
            sock = await self.open(environ["aiohttp.request"])
            self.environ = environ
            # The handler is the Engine.IO socket's bound method: let idle_websocket find us.
            eio_socket = getattr(self.handler, "__self__", None)
            if eio_socket is not None:
                setattr(eio_socket, SOCKET_ATTR, self)
            try:
                await self.handler(self)
            finally:
                if eio_socket is not None:
                    setattr(eio_socket, SOCKET_ATTR, None)
            return sock

    return WebSocket


def install(eio_server: Any, *, compress: bool) -> None:
    """Make ``eio_server`` open its WebSockets with ``compress`` (permessage-deflate)."""
    eio_server._async = {**eio_server._async, "websocket": websocket_factory(compress)}


SOCKET_ATTR = "roomkey_websocket"

# Engine.IO packet types (OPEN to NOOP), as the first character of a text message.
_ENGINEIO_TYPES = frozenset("0123456")


def not_engineio(data: Any) -> bool:
    """Whether a text message cannot be an Engine.IO packet: empty, or starting with neither
    an ASCII packet type (0 to 6) nor ``b`` followed by base64 (binary, as long-polling sends
    it). python-engineio raises on these (``int()`` of the type, ``b64decode``); a type in
    another script's digits (``int()`` reads them too) is refused here. Binary messages are
    Engine.IO binary packets: refused by the Socket.IO layer."""
    if not isinstance(data, str):
        return False
    if not data:
        return True
    if data[0] == "b":
        try:
            base64.b64decode(data[1:])  # as python-engineio decodes it
        except ValueError:  # binascii.Error
            return True
        return False
    return data[0] not in _ENGINEIO_TYPES


def report_not_engineio(eio_server: Any, sid: str | None) -> None:
    """Tell ``eio_server``'s ``on_not_engineio`` hook (the transport logs and counts the
    refusal) that socket ``sid`` sent something that is not Engine.IO; it is then closed."""
    hook = getattr(eio_server, "on_not_engineio", None)
    if hook is not None:
        hook(sid)


def idle_websocket(eio_socket: Any) -> Any:
    """The WebSocket under ``eio_socket`` (its ``transport`` and ``compressed``) when, as far
    as Engine.IO goes, a frame written straight to that transport cannot reorder anything:
    the socket is on a WebSocket opened by this module, is not upgrading, and its Engine.IO
    writer is idle (nothing queued, no packet in flight between the queue and the wire).
    None otherwise: the caller queues the packet for the writer, as without direct writes.
    Whether the wire takes the frame as is the caller asks next
    (``transports/websocket_frames.can_write_now``)."""
    ws = getattr(eio_socket, SOCKET_ATTR, None)
    if ws is None or eio_socket.upgrading:
        return None
    # Every socket roomkey serves is one of engineio_socket's, which knows when its writer
    # is idle; anything else is never written to directly.
    idle = getattr(eio_socket, "writer_idle", None)
    if idle is None or not idle():
        return None
    return ws


def shape_problems(websocket_class: type, eio_server: Any) -> list[str]:
    """``eio_server`` (python-engineio's ``AsyncServer``, built for aiohttp) takes its
    WebSocket driver from ``_async["websocket"]``, which is ``websocket_class``, and that
    driver is of the shape the wrapper above extends."""
    table = getattr(eio_server, "_async", None)
    if not isinstance(table, dict) or table.get("websocket") is not websocket_class:
        return ["AsyncServer._async['websocket'] is not the aiohttp driver's WebSocket"]
    label = f"async_drivers.aiohttp.{websocket_class.__name__}"
    problems = [
        *method(websocket_class, "__init__", ("handler", "server"), coroutine=False, label=label),
        *method(websocket_class, "__call__", ("environ",), coroutine=True, label=label),
        *method(websocket_class, "wait", (), coroutine=True, label=label),
        *method(websocket_class, "send", ("message",), coroutine=True, label=label),
        *method(websocket_class, "close", (), coroutine=True, label=label),
    ]
    if not problems:
        driver = websocket_class(None, eio_server)
        problems += attributes(driver, ("_sock", "handler", "server"), label=label)
    return problems


def direct_write_shape_problems(socket_class: type, eio_socket: Any) -> list[str]:
    """python-engineio's socket (``socket_class``, one of it built as ``eio_socket``) has
    what ``idle_websocket`` reads, and its writer waits for packets in ``poll``."""
    return [
        *attributes(eio_socket, ("upgrading", "queue"), label=socket_class.__name__),
        *method(socket_class, "poll", (), coroutine=True),
        *method(socket_class, "_upgrade_websocket", ("environ",), coroutine=True),
    ]
