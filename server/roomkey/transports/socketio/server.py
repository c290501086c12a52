"""The Socket.IO transport (python-socketio on aiohttp): parse, call the hub, format.

Wire contract: docs/protocol.md. The app is chosen by the handshake ``auth`` object
(``{"key", "token"?}``) or the ``key`` query parameter. Every client request is answered
through its acknowledgement, ``{"error": {"code", "message"}}`` on failure.

Deliveries bypass python-socketio's per-recipient emit: a message is encoded once into one
Engine.IO packet (which caches its own encoding) and that packet object is queued on each
recipient's Engine.IO socket, whose writer task sends it. No task per recipient per message.
With ``performance.direct_writes`` (the default) the message is also framed once as WebSocket
bytes, written straight to each recipient's transport whenever its Engine.IO writer is idle
with nothing queued, so that order and bytes on the wire are unchanged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import socketio
from aiohttp import web
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from roomkey._patches import engineio_websocket
from roomkey._patches.socketio_inbound import GuardedSocketIOServer
from roomkey._patches.socketio_queue import MeteredQueue, remember_size
from roomkey.config import AppSettings
from roomkey.core.channels import new_socket_id
from roomkey.core.errors import (
    BadRequest,
    Forbidden,
    PayloadTooLarge,
    RoomkeyError,
    SlowConsumer,
    Unauthorized,
)
from roomkey.core.protocol import (
    ChannelEvent,
    MemberAdded,
    MemberRemoved,
    Outbound,
    dumps,
    parse_refresh,
    parse_signin,
    parse_subscribe,
    parse_trigger,
    parse_unsubscribe,
)
from roomkey.http.context import client_address, request_identity
from roomkey.hub.connection import Connection
from roomkey.logs import DropMessages

if TYPE_CHECKING:
    from roomkey.runtime import Runtime

log = logging.getLogger("roomkey.socketio")

NAMESPACE = "/"
_ENGINEIO_ORIGIN_NOISE = DropMessages("is not an accepted origin")


def _event_packet(event: str, payload: Any) -> eio_packet.Packet:
    """One Engine.IO MESSAGE carrying a Socket.IO EVENT on the default namespace."""
    text = f"{sio_packet.EVENT}{dumps([event, payload])}"
    pkt = eio_packet.Packet(eio_packet.MESSAGE, data=text)
    remember_size(pkt, len(text.encode()) + 1)  # measured once, shared by recipients
    return pkt


def _ack_packet(ack_id: int, payload: Any) -> eio_packet.Packet:
    """One Engine.IO MESSAGE carrying a Socket.IO ACK on the default namespace."""
    return eio_packet.Packet(eio_packet.MESSAGE, data=f"{sio_packet.ACK}{ack_id}{dumps([payload])}")


def encode_outbound(message: Outbound) -> eio_packet.Packet:
    """The Socket.IO form of a delivery, built once per message and cached on it."""
    cached = message.encoded.get("sio")
    if cached is not None:
        return cached
    if isinstance(message, ChannelEvent):
        pkt = _event_packet("event", message.as_dict())
    elif isinstance(message, MemberAdded):
        pkt = _event_packet(
            "member_added",
            {
                "channel": message.channel,
                "user_id": message.user_id,
                "user_info": message.user_info,
            },
        )
    elif isinstance(message, MemberRemoved):
        pkt = _event_packet(
            "member_removed", {"channel": message.channel, "user_id": message.user_id}
        )
    else:
        raise TypeError(f"cannot encode {message!r}")
    message.encoded["sio"] = pkt
    return pkt


class SocketIOConnection(Connection):
    transport = "socketio"

    def __init__(
        self, transport: SocketIOTransport, sid: str, app: AppSettings, **kwargs: Any
    ) -> None:
        super().__init__(app, new_socket_id(), **kwargs)
        self.sid = sid
        self._transport = transport
        self._eio_socket: Any = None
        self.tcp: Any = None  # the aiohttp transport, when the socket is a direct WebSocket

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
            self._transport.drop_slow(self, queue, limit)

    def deliver(self, message: Outbound) -> None:
        sock = self._eio_socket
        if sock is None or sock.closed or self.closed:
            return
        pkt = encode_outbound(message)
        if self._transport.direct_writes:
            # The frame is built once per message, like the packet; written straight to the
            # transport when nothing is queued ahead of it (see engineio_websocket.write_now).
            frame = message.encoded.get("sio-frame")
            if frame is None:
                frame = message.encoded["sio-frame"] = engineio_websocket.text_frame(pkt.encode())
            if engineio_websocket.write_now(sock, frame, self.app.limits.max_outbound_buffer_bytes):
                return
        self._put(pkt)

    def emit(self, event: str, payload: Any) -> None:
        self._put(_event_packet(event, payload))

    def acknowledge(self, ack_id: int, payload: Any) -> None:
        """Answer the client's request ``ack_id`` with ``payload``."""
        self._put(_ack_packet(ack_id, payload))

    def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.emit("error", {"code": code, "message": reason})
        self.closed = True
        self._transport.spawn(self._transport.sio.disconnect(self.sid))


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


def _refusal(exc: RoomkeyError) -> socketio.exceptions.ConnectionRefusedError:
    """A ``connect_error`` whose data is ``{"code", "message"}`` for Python clients and, under
    ``data``, for socket.io-client (which exposes it as ``err.data``)."""
    refused = socketio.exceptions.ConnectionRefusedError(exc.message)
    detail = {"code": exc.code, "message": exc.message, "reason": exc.reason}
    refused.error_args = {**detail, "data": detail}
    return refused


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
    ) -> None:
        self.runtime: Runtime | None = None
        self.direct_writes = direct_writes
        self._conns: dict[str, SocketIOConnection] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        # Binary, malformed and reserved-name packets are stopped before python-socketio
        # dispatches them (socketio_inbound); the refusals come back to this transport.
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
        self.sio.eio.patch(
            compress=compression, lean_sockets=lean_sockets, allow_origin=allow_origin
        )
        self.sio.eio.on_not_engineio = self._refused_engineio
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("subscribe", self._on_subscribe)
        self.sio.on("unsubscribe", self._on_unsubscribe)
        self.sio.on("trigger", self._on_trigger)
        self.sio.on("signin", self._on_signin)
        self.sio.on("refresh", self._on_refresh)
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

    def attach(self, app: web.Application) -> None:
        self.sio.attach(app, socketio_path="socket.io")

    def bind(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def spawn(self, coro: Any) -> None:
        """Run a coroutine owned by this transport (cancelled at ``close``)."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def drop_slow(self, conn: SocketIOConnection, queue: MeteredQueue, limit: int) -> None:
        """``conn`` stopped reading: free what is queued for it, tell it why (should it ever
        read again) and drop the socket without waiting for the queue to drain."""
        queue.drop_all()
        exc = SlowConsumer(
            f"outbound buffer over limits.max_outbound_buffer_bytes ({limit}): "
            "the client is not reading"
        )
        queue.put_nowait(_event_packet("error", exc.as_dict()))
        conn.closed = True
        if self.runtime is not None:
            self.runtime.slow_consumer(conn, exc)
        if conn.tcp is not None:
            conn.tcp.abort()
        sock = conn._eio_socket
        self.spawn(sock.close(wait=False, abort=True))

    @property
    def connection_count(self) -> int:
        return len(self._conns)

    # -- handlers ----------------------------------------------------------------------

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        rt = self.runtime
        if rt is None:
            raise _refusal(RoomkeyError("server is starting", code=4200))
        request: web.Request = environ["aiohttp.request"]
        address = client_address(rt, request)
        try:
            conn = await self._open(
                rt, sid, request, auth if isinstance(auth, dict) else {}, address
            )
        except RoomkeyError as exc:
            rt.log_refusal("socketio connect", exc, address=address)
            raise _refusal(exc) from None
        if request.headers.get("Upgrade", "").lower() == "websocket":
            conn.tcp = request.transport
        self._conns[sid] = conn

    async def _open(
        self, rt: Runtime, sid: str, request: web.Request, auth: dict[str, Any], address: str
    ) -> SocketIOConnection:
        key = auth.get("key")
        if key is None:
            key = parse_qs(request.query_string).get("key", [None])[0]
        app = rt.apps.by_key(key)
        await rt.admit_connection(app, address)
        token = auth.get("token")
        if token is not None and not isinstance(token, str):
            raise BadRequest("auth.token must be a string")
        identity = await request_identity(rt, request, token or None, header=False)
        if app.require_identity and identity is None:
            raise Unauthorized(
                "this app requires an identity: send auth.token or log in first",
                reason="no_identity",
            )
        conn = SocketIOConnection(self, sid, app, identity=identity, address=address)
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
        try:
            await self.runtime.hub.disconnect(conn)
        finally:
            # The close line, metrics and the authorization deadline are settled even when
            # the hub could not update shared state (Redis down).
            self.runtime.connection_closed(conn)

    async def _answer(
        self,
        sid: str,
        what: str,
        action: Callable[[SocketIOConnection], Any],
        payload: Any = None,
    ) -> Any:
        conn = self._conns.get(sid)
        if conn is None or self.runtime is None:
            return {"error": {"code": 4300, "message": "not connected"}}
        self.runtime.metrics.count(self.runtime.metrics.messages_received, conn.transport, what)
        try:
            limit = conn.app.limits.max_socketio_message_bytes
            if limit and payload is not None and len(dumps(payload).encode()) > limit:
                raise PayloadTooLarge(
                    f"message is larger than limits.max_socketio_message_bytes ({limit})"
                )
            return await action(conn)
        except RoomkeyError as exc:
            self.runtime.log_refusal(what, exc, conn=conn)
            return {"error": exc.as_dict()}
        except Exception:
            log.exception("socketio %s failed", what)
            return {"error": {"code": 4300, "message": "internal error"}}

    async def _on_subscribe(self, sid: str, *args: Any) -> Any:
        payload = args[0] if args else None

        async def act(conn: SocketIOConnection) -> Any:
            assert self.runtime is not None
            self.runtime.throttle.subscribe(conn)
            return await self.runtime.hub.subscribe(conn, parse_subscribe(payload))

        return await self._answer(sid, "subscribe", act, payload)

    async def _on_unsubscribe(self, sid: str, *args: Any) -> Any:
        payload = args[0] if args else None

        async def act(conn: SocketIOConnection) -> Any:
            assert self.runtime is not None
            return await self.runtime.hub.unsubscribe(conn, parse_unsubscribe(payload).channel)

        return await self._answer(sid, "unsubscribe", act, payload)

    async def _on_trigger(self, sid: str, *args: Any) -> Any:
        payload = args[0] if args else None

        async def act(conn: SocketIOConnection) -> Any:
            assert self.runtime is not None
            await self.runtime.hub.client_event(conn, parse_trigger(payload))
            return {}

        return await self._answer(sid, "trigger", act, payload)

    async def _on_signin(self, sid: str, *args: Any) -> Any:
        payload = args[0] if args else None

        async def act(conn: SocketIOConnection) -> Any:
            assert self.runtime is not None
            return await self.runtime.hub.signin(conn, parse_signin(payload))

        return await self._answer(sid, "signin", act, payload)

    async def _on_refresh(self, sid: str, *args: Any) -> Any:
        payload = args[0] if args else None

        async def act(conn: SocketIOConnection) -> Any:
            assert self.runtime is not None
            return self.runtime.hub.refresh(conn, parse_refresh(payload))

        return await self._answer(sid, "refresh", act, payload)

    async def _on_unknown(self, event: str, sid: str, *args: Any) -> Any:
        async def act(conn: SocketIOConnection) -> Any:
            raise BadRequest(
                "unknown event; expected subscribe, unsubscribe, trigger, signin or refresh"
            )

        return await self._answer(sid, "unknown event", act, list(args))

    # -- packets the server does not dispatch (socketio_inbound) ------------------------

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
            conn.acknowledge(ack_id, {"error": exc.as_dict()})

    async def drain(self, seconds: float) -> None:
        """Wait up to ``seconds`` for the tasks this transport owns (disconnects in flight)
        to finish; they are not cancelled (``close`` does that)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=seconds)
