"""Engine.IO WebSockets opened directly, served from the request's own handler.

A client that opens a WebSocket straight away (``GET /socket.io/?EIO=4&transport=websocket``
with ``Upgrade: websocket``, no ``sid``: what roomkey.js and socket.io-client with
``transports: ["websocket"]`` do) would, through python-engineio's ``handle_request``, keep for
the whole life of the connection a WSGI environ of some 30 keys, the parsed query string and
five suspended coroutine frames with their locals (``handle_request``, ``_handle_connect``,
``handle_get_request``, ``_upgrade_websocket`` and the driver's ``__call__``): several KB per
idle connection. ``handle_get`` performs the same handshake itself, in one frame:

- the same checks first (transport, protocol version, ``Upgrade`` header, origin); anything
  else (long-polling, an upgrade from it, another version, a refused origin, OPTIONS, POST)
  goes to python-engineio unchanged, which answers and logs as it always does;
- the same session id (``generate_id``), OPEN packet (``sid``, no upgrades, ``pingTimeout``,
  ``pingInterval``, ``maxPayload``), ``connect`` event, ping timer and service task;
- the socket is a ``LeanSocket`` served by ``serve_websocket``: with
  ``performance.lean_websockets`` (and no ``server.compression``) on roomkey's own WebSocket
  (``transports/lean_websocket``), which takes the connection over from aiohttp, in a task of
  the Socket.IO transport's (``Takeover``), so that aiohttp's handler, its task and the
  request end here; otherwise on aiohttp's WebSocket, in this same task.

The environ handed to the ``connect`` event (and kept by python-socketio for the session)
carries only ``REQUEST_METHOD``, ``QUERY_STRING``, ``PATH_INFO``, ``wsgi.url_scheme``, the
``Host``, ``Origin`` and ``X-Forwarded-For`` headers when sent, and ``aiohttp.request`` (where
roomkey's own handlers read everything else). Used when ``performance.lean_sockets`` is on.

Private parts of python-engineio's ``AsyncServer`` used here (``shape_problems`` checks them
at start-up; on a mismatch lean sockets are off and python-engineio handshakes every socket):
the driver table ``_async`` (``"create_route"`` replaced on the server's own copy,
``"translate_request"`` and ``"websocket"`` used), ``_service_task()``,
``start_service_task`` and ``service_task_handle`` (started as python-engineio starts them),
``_trigger_event(event, *args, **kwargs)``, ``_make_response(response_dict, environ)`` and
``_unauthorized(message)``, with the public ``generate_id()``, ``sockets``, ``transports``,
``ping_interval``, ``ping_interval_grace_period``, ``ping_timeout`` and
``max_http_buffer_size``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web
from engineio import packet

from roomkey._patches.engineio_socket import LeanSocket
from roomkey._patches.engineio_websocket import SOCKET_ATTR
from roomkey._patches.shape import attributes, method
from roomkey.transports.lean_websocket import WebSocketTakeovers, detached, upgrade_problem

OriginCheck = Callable[[str | None, str | None], bool]

# The session environ's key for a taken-over socket's transport (``aiohttp.request`` has let
# go of it); seconds a lean socket waits for the client's close frame (aiohttp's default).
TRANSPORT_KEY = "roomkey.transport"
CLOSE_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Takeover:
    """How direct WebSockets are served: by roomkey's own WebSocket when ``lean``
    (``performance.lean_websockets`` on, ``server.compression`` off), taken over through
    ``sockets`` and served in a task started by ``spawn``; else by aiohttp's, in the
    request's handler."""

    lean: bool
    sockets: WebSocketTakeovers
    spawn: Callable[[Coroutine[Any, Any, None]], Any]


def install(eio_server: Any, allow_origin: OriginCheck, takeover: Takeover) -> None:
    """Route ``GET`` on ``eio_server``'s path to ``handle_get`` (POST and OPTIONS stay with
    python-engineio). Done on the server's own copy of the driver table."""

    def create_route(app: web.Application, server: Any, endpoint: str) -> None:
        # A partial, not a closure: no second coroutine frame kept per connection.
        app.router.add_get(endpoint, functools.partial(handle_get, server, allow_origin, takeover))
        app.router.add_post(endpoint, server.handle_request)
        app.router.add_route("OPTIONS", endpoint, server.handle_request)

    eio_server._async = {**eio_server._async, "create_route": create_route}


def is_direct(eio_server: Any, request: web.Request, allow_origin: OriginCheck) -> bool:
    """Whether ``request`` opens an Engine.IO 4 WebSocket directly and may be served here."""
    if not getattr(eio_server, "lean_sockets", False) or "websocket" not in eio_server.transports:
        return False
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return False
    query = parse_qs(request.query_string)
    if query.get("transport") != ["websocket"] or query.get("EIO") != ["4"]:
        return False
    if "sid" in query or "j" in query:
        return False
    origin = request.headers.get("Origin")
    # A refused origin goes to python-engineio, which answers 400 and logs it once.
    return not origin or allow_origin(origin, request.host)


def session_environ(request: web.Request) -> dict[str, Any]:
    """The few environ keys a direct session keeps (see the module's docstring)."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "QUERY_STRING": request.query_string,
        "PATH_INFO": request.path,
        "wsgi.url_scheme": request.headers.get("X-Forwarded-Proto", "http"),
        "aiohttp.request": request,
    }
    for header, key in (
        ("Host", "HTTP_HOST"),
        ("Origin", "HTTP_ORIGIN"),
        ("X-Forwarded-For", "HTTP_X_FORWARDED_FOR"),
    ):
        value = request.headers.get(header)
        if value is not None:
            environ[key] = value
    return environ


async def handle_get(
    eio: Any, allow_origin: OriginCheck, takeover: Takeover, request: web.Request
) -> web.StreamResponse:
    """One ``GET`` on the Engine.IO path: a direct WebSocket served here, anything else by
    python-engineio."""
    if not is_direct(eio, request, allow_origin):
        response: web.StreamResponse = await eio.handle_request(request)
        return response
    if eio.start_service_task:
        # As python-engineio: its service task (ping checks) starts with the first client.
        eio.start_service_task = False
        eio.service_task_handle = eio.start_background_task(eio._service_task)
    lean = WebSocketTakeovers.usable(request, lean=takeover.lean, compression=False)
    if lean and upgrade_problem(request) is not None:
        return web.Response(status=400, text="malformed WebSocket upgrade")
    sid = eio.generate_id()
    sock = LeanSocket(eio, sid)
    eio.sockets[sid] = sock
    await sock.send(
        packet.Packet(
            packet.OPEN,
            {
                "sid": sid,
                "upgrades": [],
                "pingTimeout": int(eio.ping_timeout * 1000),
                "pingInterval": int(eio.ping_interval + eio.ping_interval_grace_period) * 1000,
                "maxPayload": eio.max_http_buffer_size,
            },
        )
    )
    environ = session_environ(request)
    ret = await eio._trigger_event("connect", sid, environ, run_async=False)
    if ret is not None and ret is not True:
        del eio.sockets[sid]
        eio.logger.warning("Application rejected connection")
        environ = eio._async["translate_request"](request)
        refused: web.StreamResponse = await eio._make_response(
            eio._unauthorized(ret or None), environ
        )
        return refused
    sock.schedule_ping()
    ws = eio._async["websocket"](None, eio)
    if lean and WebSocketTakeovers.usable(request, lean=True, compression=False):
        ws.adopt(
            takeover.sockets.accept(
                request,
                max_msg_size=eio.max_http_buffer_size,
                close_timeout=CLOSE_TIMEOUT_SECONDS,
                max_queued_bytes=eio.max_http_buffer_size,
            )
        )
        # Where the Socket.IO connection finds its transport (the request lets go of it).
        environ[TRANSPORT_KEY] = ws.transport
        # Served in a task of the transport's: aiohttp's handler and its task end here.
        takeover.spawn(_serve(eio, sid, sock, ws))
        return detached()
    try:
        response = await ws.open(request)
    except BaseException:
        await sock.close(wait=False, abort=True, reason=eio.reason.TRANSPORT_ERROR)
        eio.sockets.pop(sid, None)
        raise
    await _serve(eio, sid, sock, ws)
    return response


async def _serve(eio: Any, sid: str, sock: LeanSocket, ws: Any) -> None:
    setattr(sock, SOCKET_ATTR, ws)
    try:
        await sock.serve_websocket(ws)
    finally:
        setattr(sock, SOCKET_ATTR, None)
        if sock.closed and eio.sockets.get(sid) is sock:
            del eio.sockets[sid]


def shape_problems(server_class: type, eio_server: Any) -> list[str]:
    """python-engineio's server (``server_class``, one built for aiohttp as ``eio_server``)
    has what ``handle_get`` and ``install`` use, of the signatures expected."""
    problems = [
        *method(server_class, "_service_task", (), coroutine=True),
        *method(server_class, "_trigger_event", ("event", "*args", "**kwargs"), coroutine=True),
        *method(server_class, "_make_response", ("response_dict", "environ"), coroutine=True),
        *method(server_class, "_unauthorized", ("message",), coroutine=False),
        *method(server_class, "generate_id", (), coroutine=False),
        *attributes(
            eio_server,
            (
                "start_service_task",
                "service_task_handle",
                "sockets",
                "transports",
                "ping_interval",
                "ping_interval_grace_period",
                "ping_timeout",
                "max_http_buffer_size",
            ),
            label=server_class.__name__,
        ),
    ]
    table = getattr(eio_server, "_async", None)
    if not isinstance(table, dict) or not {"create_route", "translate_request"} <= table.keys():
        problems.append("AsyncServer._async has no create_route or translate_request")
    return problems
