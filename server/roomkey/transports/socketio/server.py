"""The Socket.IO transport (python-socketio on aiohttp): admission, requests, refusals.

Wire contract: docs/protocol.md. The app is chosen by the handshake ``auth`` object
(``{"key", "token"?}``) or the ``key`` query parameter. Every client request is one entry of
``HANDLERS`` (its payload's parser and the hub call that answers it), answered through its
acknowledgement, ``{"error": {"code", "message"}}`` on failure. What goes out is
``connection`` (queueing, direct writes, slow consumers) and ``wire`` (the packets).

Inbound packets the server will not dispatch (binary, malformed, reserved event names) are
stopped by ``_patches.socketio_inbound``'s server before python-socketio sees them; it hands
them back here (``refuse_binary``, ``refuse_malformed``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import parse_qs

import socketio
from aiohttp import web

from roomkey._patches.engineio_direct import TRANSPORT_KEY, Takeover
from roomkey._patches.socketio_inbound import GuardedSocketIOServer
from roomkey.core.errors import BadRequest, Forbidden, PayloadTooLarge, RoomkeyError
from roomkey.core.protocol import (
    RefreshRequest,
    SigninRequest,
    SubscribeRequest,
    TriggerRequest,
    UnsubscribeRequest,
    dumps,
    parse_refresh,
    parse_signin,
    parse_subscribe,
    parse_trigger,
    parse_unsubscribe,
)
from roomkey.hub.connection import Connection
from roomkey.identity.request import client_address
from roomkey.logs import DropMessages
from roomkey.refusals import INTERNAL_ERROR, NOT_CONNECTED, connect_error, error_answer
from roomkey.tasks import OwnedTasks
from roomkey.transports.admission import admit, handshake_identity
from roomkey.transports.lean_websocket import WebSocketTakeovers
from roomkey.transports.socketio.connection import SocketIOConnection
from roomkey.transports.socketio.wire import NAMESPACE

if TYPE_CHECKING:
    from roomkey.runtime import Runtime

log = logging.getLogger("roomkey.socketio")

_ENGINEIO_ORIGIN_NOISE = DropMessages("is not an accepted origin")

T = TypeVar("T")


@dataclass(frozen=True)
class Handler(Generic[T]):
    """One kind of client request: ``parse`` turns its payload into ``T`` (``BadRequest``
    naming what is wrong), ``call`` asks the hub and returns the acknowledgement's payload.
    ``throttle``, when set, is a rate checked before the payload is parsed: a malformed
    request counts against it too."""

    parse: Callable[[object], T]
    call: Callable[[Runtime, SocketIOConnection, T], Awaitable[dict[str, Any]]]
    throttle: Callable[[Runtime, Connection], None] | None = None


# The hub calls, as ``Handler.call``: those that are the hub's coroutine return it as is.


async def _subscribe(
    rt: Runtime, conn: SocketIOConnection, req: SubscribeRequest
) -> dict[str, Any]:
    ack = await rt.hub.subscribe(conn, req)
    conn.after_answer(rt.hub.subscribed(conn, req.channel))
    return ack


def _unsubscribe(
    rt: Runtime, conn: SocketIOConnection, req: UnsubscribeRequest
) -> Awaitable[dict[str, Any]]:
    return rt.hub.unsubscribe(conn, req.channel)


async def _trigger(rt: Runtime, conn: SocketIOConnection, req: TriggerRequest) -> dict[str, Any]:
    await rt.hub.client_event(conn, req)
    return {}


async def _signin(rt: Runtime, conn: SocketIOConnection, req: SigninRequest) -> dict[str, Any]:
    ack = await rt.hub.signin(conn, req)
    conn.after_answer(rt.hub.signed_in(conn))
    return ack


async def _refresh(rt: Runtime, conn: SocketIOConnection, req: RefreshRequest) -> dict[str, Any]:
    return rt.hub.refresh(conn, req)


def _subscribe_rate(rt: Runtime, conn: Connection) -> None:
    rt.throttle.subscribe(conn)


# Event name -> handler, registered in one loop (``SocketIOTransport.__init__``). The names
# are the protocol's (docs/protocol.md); any other is answered as an unknown event.
HANDLERS: dict[str, Handler[Any]] = {
    "subscribe": Handler[SubscribeRequest](parse_subscribe, _subscribe, _subscribe_rate),
    "unsubscribe": Handler[UnsubscribeRequest](parse_unsubscribe, _unsubscribe),
    "trigger": Handler[TriggerRequest](parse_trigger, _trigger),
    "signin": Handler[SigninRequest](parse_signin, _signin),
    "refresh": Handler[RefreshRequest](parse_refresh, _refresh),
}
# The unknown-event answer names exactly the events above: "unknown event; expected
# subscribe, unsubscribe, trigger, signin or refresh".
*_FIRST_EVENTS, _LAST_EVENT = HANDLERS
UNKNOWN_EVENT = f"unknown event; expected {', '.join(_FIRST_EVENTS)} or {_LAST_EVENT}"


class _ConnectNotifyingManager(socketio.AsyncManager):  # type: ignore[misc]
    """Calls back once a client is fully connected, i.e. after the CONNECT packet went out,
    so that ``connection_established`` is never queued ahead of it."""

    def __init__(self, on_connected: Callable[[str], None]) -> None:
        super().__init__()
        self._on_connected = on_connected

    async def connect(self, sid: str, namespace: str) -> Any:
        result = await super().connect(sid, namespace)
        self._on_connected(sid)
        return result


class SocketIOTransport:
    """Owns the python-socketio server. Created before the aiohttp app starts (routes), bound
    to the runtime at start-up (``bind``), and closed at shutdown (``close``)."""

    def __init__(
        self,
        *,
        max_message_bytes: int,
        ping_interval: float,
        ping_timeout: float,
        websocket_only: bool,
        allow_origin: Callable[[str | None, str | None], bool],
        compression: bool = False,
        direct_writes: bool = True,
        lean_sockets: bool = True,
        lean_websockets: bool = True,
    ) -> None:
        self.runtime: Runtime | None = None
        self.direct_writes = direct_writes
        self._conns: dict[str, SocketIOConnection] = {}
        # Disconnects and aborts the transport started (a socket closed from this side).
        self._tasks = OwnedTasks()
        # Binary, malformed and reserved-name packets are stopped before python-socketio
        # dispatches them (_patches.socketio_inbound); the refusals come back here.
        self.sio = GuardedSocketIOServer(
            refusals=self,
            async_mode="aiohttp",
            client_manager=_ConnectNotifyingManager(self._connected),
            cors_allowed_origins=self._origin_check(allow_origin),
            cors_credentials=True,
            # Up to twice the largest app limit is read and answered with a 4100 error
            # (``_answer``); past that Engine.IO closes the socket (WebSocket 1009).
            max_http_buffer_size=2 * max_message_bytes,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            always_connect=False,
            transports=["websocket"] if websocket_only else ["polling", "websocket"],
            # Loggers, not False: with False python-engineio attaches its own StreamHandler
            # (tracebacks past roomkey's handler); these propagate to roomkey's.
            logger=logging.getLogger("socketio.server"),
            engineio_logger=logging.getLogger("engineio.server"),
        )
        # permessage-deflate only when configured; with lean sockets, direct WebSockets
        # handshake in their own handler (roomkey._patches: MeteredEngineIOServer.patch).
        self._sockets = WebSocketTakeovers()
        self.sio.eio.patch(
            compress=compression,
            lean_sockets=lean_sockets,
            allow_origin=allow_origin,
            takeover=Takeover(
                lean=lean_websockets and not compression,
                sockets=self._sockets,
                spawn=self._tasks.spawn,
            ),
        )
        self.sio.eio.on_not_engineio = self._refused_engineio
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        for event, handler in HANDLERS.items():
            self.sio.on(event, self._handler(event, handler))
        self.sio.on("*", self._on_unknown)

    def _origin_check(
        self, allow_origin: Callable[[str | None, str | None], bool]
    ) -> Callable[[str | None, dict[str, Any]], bool]:
        """Engine.IO's origin callable: refuses before any socket exists, and logs the
        refusal as roomkey's own line (Engine.IO's unescaped one is dropped)."""
        logging.getLogger("engineio.server").addFilter(_ENGINEIO_ORIGIN_NOISE)

        def check(origin: str | None, environ: dict[str, Any]) -> bool:
            if allow_origin(origin, environ.get("HTTP_HOST")):
                return True
            # Engine.IO asks twice per request (the check, then the CORS headers): log once.
            if self.runtime is not None and not environ.get("roomkey.origin_refused"):
                environ["roomkey.origin_refused"] = True
                request = environ.get("aiohttp.request")
                self.runtime.log_refusal(
                    "socketio origin",
                    Forbidden("origin is not allowed", reason="origin"),
                    address=self.runtime.addresses.resolve(
                        getattr(request, "remote", None), environ.get("HTTP_X_FORWARDED_FOR")
                    ),
                )
            return False

        return check

    def attach(self, app: web.Application, prefix: str = "") -> None:
        """Engine.IO at ``{prefix}/socket.io/`` (clients: ``path: "{prefix}/socket.io"``)."""
        self.sio.attach(app, socketio_path=prefix + "/socket.io")

    def bind(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def close(self) -> None:
        """Cancel the tasks this transport owns and drop the lean sockets still open (at
        shutdown, after ``drain``)."""
        await self._tasks.close()
        self._sockets.abort_all()

    @property
    def connection_count(self) -> int:
        return len(self._conns)

    def sizes(self) -> dict[str, int]:
        """How many entries this transport and python-socketio/engineio keep
        (``roomkey.internal_sizes``): each is back to 0 once every client has gone."""
        manager = self.sio.manager
        return {
            "socketio.connections": len(self._conns),
            "socketio.tasks": len(self._tasks),
            "socketio.lean_websockets": len(self._sockets),
            "socketio.environ": len(self.sio.environ),
            "socketio.binary_packets": len(self.sio._binary_packet),
            "socketio.rooms": sum(
                len(room) for rooms in manager.rooms.values() for room in rooms.values()
            ),
            "socketio.eio_to_sid": len(manager.eio_to_sid),
            "socketio.callbacks": sum(len(c) for c in manager.callbacks.values()),
            "socketio.pending_disconnect": len(manager.pending_disconnect),
            "engineio.sockets": len(self.sio.eio.sockets),
        }

    # -- handlers ----------------------------------------------------------------------

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        rt = self.runtime
        if rt is None:
            raise connect_error(RoomkeyError("server is starting", code=4200))
        # The session keeps its environ for the connection's life: the request goes now.
        request: web.Request = environ.pop("aiohttp.request")
        address = client_address(rt, request)
        try:
            conn = await self._open(
                rt, sid, request, auth if isinstance(auth, dict) else {}, address
            )
        except RoomkeyError as exc:
            rt.log_refusal("socketio connect", exc, address=address)
            raise connect_error(exc) from None
        if request.headers.get("Upgrade", "").lower() == "websocket":
            conn.tcp = environ.get(TRANSPORT_KEY) or request.transport
        self._conns[sid] = conn

    async def _open(
        self, rt: Runtime, sid: str, request: web.Request, auth: dict[str, Any], address: str
    ) -> SocketIOConnection:
        key = auth.get("key")
        if key is None:
            key = parse_qs(request.query_string).get("key", [None])[0]
        app = await admit(rt, key, address)
        token = auth.get("token")
        if token is not None and not isinstance(token, str):
            raise BadRequest("auth.token must be a string")
        identity = await handshake_identity(
            rt, request, app, token or None, how="send auth.token or log in first"
        )
        conn = SocketIOConnection(
            app,
            sid,
            identity=identity,
            address=address,
            direct_writes=self.direct_writes,
            spawn=self._tasks.spawn,
            disconnect=self.sio.disconnect,
            on_overflow=rt.slow_consumer,
        )
        await rt.hub.connect(conn)
        return conn

    def _connected(self, sid: str) -> None:
        conn = self._conns.get(sid)
        if conn is None or self.runtime is None:
            return
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, NAMESPACE)
        conn.attach_socket(self.sio.eio.sockets.get(eio_sid))
        conn.emit(
            "connection_established",
            {
                "socket_id": conn.socket_id,
                "activity_timeout": self.runtime.settings.server.activity_timeout,
            },
        )
        self.runtime.connection_opened(conn)

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        conn = self._conns.pop(sid, None)
        if conn is None or self.runtime is None:
            return
        # In a task of the transport's own, awaited shielded: the caller may be the request
        # handler of a directly opened WebSocket, which aiohttp cancels as soon as the client
        # has gone when the server runs with ``handler_cancellation`` (aiohttp's TestServer
        # always does). Cancelled halfway, the hub would never remove the member nor
        # announce member_removed or channel_vacated; and python-socketio's own bookkeeping
        # after this handler must run too, so that cancellation ends here.
        departed = self._tasks.spawn(self._departed(self.runtime, conn), name="roomkey-departed")
        try:
            await asyncio.shield(departed)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            await departed

    @staticmethod
    async def _departed(rt: Runtime, conn: SocketIOConnection) -> None:
        try:
            await rt.hub.disconnect(conn)
        finally:
            # The close line, metrics and the authorization deadline are settled even when
            # the hub could not update shared state (Redis down).
            rt.connection_closed(conn)

    def _handler(
        self, event: str, handler: Handler[Any]
    ) -> Callable[..., Awaitable[dict[str, Any]]]:
        """python-socketio's handler for ``event``: ``(sid, payload?)`` -> the acknowledgement."""

        async def handle(sid: str, *args: Any) -> dict[str, Any]:
            return await self._answer(sid, event, handler, args[0] if args else None)

        return handle

    async def _on_unknown(self, event: str, sid: str, *args: Any) -> dict[str, Any]:
        # ``event`` is client input: it reaches neither the answer, the log nor the metrics.
        return await self._answer(sid, "unknown event", None, list(args))

    async def _answer(
        self, sid: str, what: str, handler: Handler[Any] | None, payload: Any
    ) -> dict[str, Any]:
        """Answer one request of connection ``sid`` (``handler`` None: an unknown event) with
        the hub's acknowledgement, or with the refusal (logged and counted as ``what``). A
        payload over ``limits.max_socketio_message_bytes`` is refused before it is parsed."""
        conn = self._conns.get(sid)
        rt = self.runtime
        if conn is None or rt is None:
            return error_answer(NOT_CONNECTED)
        rt.metrics.count(rt.metrics.messages_received, conn.transport, what)
        try:
            limit = conn.app.limits.max_socketio_message_bytes
            if limit and payload is not None and len(dumps(payload).encode()) > limit:
                raise PayloadTooLarge(
                    f"message is larger than limits.max_socketio_message_bytes ({limit})"
                )
            if handler is None:
                raise BadRequest(UNKNOWN_EVENT)
            if handler.throttle is not None:
                handler.throttle(rt, conn)
            return await handler.call(rt, conn, handler.parse(payload))
        except RoomkeyError as exc:
            rt.log_refusal(what, exc, conn=conn)
            return error_answer(exc)
        except Exception:
            log.exception("socketio %s failed", what)
            return error_answer(INTERNAL_ERROR)

    # -- packets the server does not dispatch (_patches.socketio_inbound) ---------------

    def _connection_of(self, eio_sid: str) -> SocketIOConnection | None:
        sid = self.sio.manager.sid_from_eio_sid(eio_sid, NAMESPACE)
        return self._conns.get(sid) if sid is not None else None

    def _refused_packet(self, exc: RoomkeyError, conn: SocketIOConnection | None) -> None:
        rt = self.runtime
        if rt is not None:
            rt.metrics.count(rt.metrics.messages_received, "socketio", "invalid frame")
            rt.log_refusal("socketio packet", exc, conn=conn)

    def _refused_engineio(self, eio_sid: str | None) -> None:
        """A message or long-polling body that is not Engine.IO: the socket is being closed
        (engineio_socket); only logged and counted here."""
        conn = self._connection_of(eio_sid) if eio_sid is not None else None
        self._refused_packet(BadRequest("not an Engine.IO packet: the socket is closed"), conn)

    async def refuse_binary(self, eio_sid: str) -> None:
        """Binary data: roomkey's protocol is JSON text. The client is told (an ``error``
        event), then its connection and its Engine.IO socket are closed; nothing of the
        packet or of its attachments is kept."""
        exc = BadRequest(
            "binary data is not accepted: roomkey's Socket.IO protocol is JSON text",
            reason="binary",
        )
        conn = self._connection_of(eio_sid)
        self._refused_packet(exc, conn)
        sock = self.sio.eio.sockets.get(eio_sid)
        if conn is not None:
            conn.emit("error", exc.as_dict())
            await self.sio.disconnect(conn.sid)
        await self.sio.eio.disconnect(eio_sid)
        if sock is not None:
            # After the CLOSE packet: the writer sends what is queued, then ends the
            # WebSocket (or the long-poll) instead of waiting for the client to do it.
            sock.queue.put_nowait(None)

    async def refuse_malformed(
        self, eio_sid: str, namespace: str | None, ack_id: int | None, exc: BadRequest
    ) -> None:
        """A packet that does not decode or cannot be dispatched: answered with ``exc``
        through its acknowledgement, or as an ``error`` event when it asked for none. The
        connection stays open and nothing else changes."""
        conn = self._connection_of(eio_sid) if namespace in (None, NAMESPACE) else None
        self._refused_packet(exc, conn)
        if conn is None:
            return  # not connected to the namespace: nothing to answer through
        if ack_id is None:
            conn.emit("error", exc.as_dict())
        else:
            conn.acknowledge(ack_id, error_answer(exc))

    async def drain(self, seconds: float) -> None:
        """Wait up to ``seconds`` for the tasks this transport owns (disconnects in flight)
        to finish; they are not cancelled (``close`` does that)."""
        await self._tasks.wait(seconds)
