"""Pusher's own WebSocket protocol (protocol 7, 5 and 6 accepted) at ``GET /app/{key}``.

Wire contract: docs/pusher-clients.md; pusher-js, Laravel Echo and Pusher's mobile SDKs work
unchanged. The edge parses frames, calls the same hub as the Socket.IO transport and formats
the answers:

- first frame ``pusher:connection_established`` (``socket_id``, ``activity_timeout``);
- ``pusher:ping`` -> ``pusher:pong``; a socket silent for ``activity_timeout`` seconds gets a
  ``pusher:ping`` and is closed with 4201 when nothing comes back within
  ``server.pusher_pong_timeout_seconds``;
- ``pusher:subscribe`` -> ``pusher_internal:subscription_succeeded`` (then, on a cache
  channel, its last event or ``pusher:cache_miss``) or, when refused,
  ``pusher:subscription_error`` on the channel followed by ``pusher:error``;
- ``pusher:unsubscribe``; ``pusher:signin`` -> ``pusher:signin_success``; ``client-*``
  events; anything refused (a frame that does not parse included) -> ``pusher:error``
  ``{"code", "message"}``, the socket stays open;
- a binary frame -> ``pusher:error`` 4300 and a close frame with 4300.

Refusals at connect (foreign origin 4009, unknown key 4001, protocol 4007/4008, identity 4009,
quota 4004, new connections per address over their rate 4100) are a ``pusher:error`` and a
close frame with the same code, as Pusher does; none of them leaves any state behind.

The runtime's hardening hooks apply here as on the Socket.IO transport (docs/operations.md):
the origin policy and the connection rate before a socket is admitted, the connection
opened/closed hooks (metrics, log lines, ``authorized_connections_timeout``), the subscribe
rate, ``messages_received`` per frame type, and the slow-consumer count.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import WSMsgType, web

from roomkey.core.channels import ChannelKind, channel_kind, new_socket_id
from roomkey.core.errors import BadRequest, Forbidden, PayloadTooLarge, RoomkeyError
from roomkey.core.protocol import parse_signin, parse_subscribe, parse_trigger, parse_unsubscribe
from roomkey.identity.request import client_address
from roomkey.refusals import INTERNAL_ERROR, close_reason, error_response, pusher_error
from roomkey.runtime import RUNTIME, Runtime
from roomkey.tasks import OwnedTasks, within
from roomkey.transports.admission import admit, handshake_identity
from roomkey.transports.lean_websocket import (
    AnyWebSocket,
    LeanWebSocket,
    WebSocketTakeovers,
    detached,
    upgrade_problem,
)
from roomkey.transports.pusher.connection import PusherConnection
from roomkey.transports.pusher.wire import (
    Frame,
    connection_established,
    frame,
    parse_frame,
    protocol_problem,
    subscribe_payload,
    subscription_errors,
    subscription_succeeded,
)

log = logging.getLogger("roomkey.pusher")

PATH = "/app/{key}"
# Frames past the per-app limit are answered with an error while they stay below this many
# times the limit; bigger ones are refused by aiohttp itself (close 1009) before buffering.
HARD_FRAME_FACTOR = 4


class PusherTransport:
    """Owns every Pusher-protocol socket and its writer tasks. ``bind`` at start-up,
    ``shutdown`` (close every socket with 4200) when the server stops, ``close`` last."""

    def __init__(self) -> None:
        self.runtime: Runtime | None = None
        self._conns: set[PusherConnection] = set()
        self._tasks = OwnedTasks()  # the sockets' writers, and lean sockets' serving tasks
        self._sockets = WebSocketTakeovers()
        self._idle = asyncio.Event()
        self._idle.set()

    def bind(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def sizes(self) -> dict[str, int]:
        """Open sockets and running writers (``roomkey.internal_sizes``)."""
        return {
            "pusher.connections": len(self._conns),
            "pusher.tasks": len(self._tasks),
            "pusher.lean_websockets": len(self._sockets),
        }

    def add_routes(self, app: web.Application, prefix: str = "") -> None:
        """``GET {prefix}/app/{key}`` (pusher-js: ``wsPath`` is the prefix)."""
        app.router.add_get(prefix + PATH, self.handle)

    async def drain(self, seconds: float) -> None:
        """Wait, at most ``seconds``, until every socket's writer has sent what it holds and
        its close frame (shutdown: ``Hub.close_all`` has closed them)."""
        if not self._conns:
            return
        try:
            await within(self._idle.wait(), seconds)
        except TimeoutError:
            log.warning("pusher sockets still open at shutdown: %d", len(self._conns))

    async def close(self) -> None:
        """Cancel the tasks still running and drop the lean sockets still open (at
        shutdown, after ``drain``)."""
        await self._tasks.close()
        self._sockets.abort_all()

    # -- one socket --------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        rt = request.config_dict[RUNTIME]
        server = rt.settings.server
        key = request.match_info["key"]
        address = client_address(rt, request)
        app_for_limit = rt.apps.default
        try:
            app_for_limit = rt.apps.by_key(key)
        except RoomkeyError:
            pass  # refused below, over the socket, as Pusher does
        limit = app_for_limit.limits.max_pusher_frame_bytes
        if WebSocketTakeovers.usable(
            request, lean=rt.settings.performance.lean_websockets, compression=server.compression
        ):
            if upgrade_problem(request) is not None:
                return error_response(BadRequest("this path takes a WebSocket upgrade"))
            lean = self._sockets.accept(
                request,
                max_msg_size=limit * HARD_FRAME_FACTOR,
                close_timeout=server.pusher_pong_timeout_seconds,
                max_queued_bytes=limit * HARD_FRAME_FACTOR,
            )
            # The rest runs in a task of this transport's: aiohttp's handler, its task and
            # the request are let go of (``transports/lean_websocket``).
            self._tasks.spawn(self._serve_detached(rt, request, lean, key, address, limit))
            return detached()
        ws = web.WebSocketResponse(
            compress=server.compression,
            max_msg_size=limit * HARD_FRAME_FACTOR,
            timeout=server.pusher_pong_timeout_seconds,
            autoping=True,
        )
        if not ws.can_prepare(request).ok:
            return error_response(BadRequest("this path takes a WebSocket upgrade"))
        await ws.prepare(request)
        await self._serve(rt, request, ws, key, address, limit)
        return ws

    async def _serve_detached(
        self,
        rt: Runtime,
        request: web.Request,
        ws: LeanWebSocket,
        key: str,
        address: str,
        limit: int,
    ) -> None:
        """``_serve`` in a task of the transport's: what aiohttp would have logged for a
        handler that failed is logged here, and the socket dropped."""
        serving = self._serve(rt, request, ws, key, address, limit)
        del request  # ``_serve`` lets go of it once the socket is admitted
        try:
            await serving
        except Exception:
            log.exception("pusher socket failed")
            ws.abort()

    async def _serve(
        self,
        rt: Runtime,
        request: web.Request,
        ws: AnyWebSocket,
        key: str,
        address: str,
        limit: int,
    ) -> None:
        """One socket, from its admission to its end."""
        server = rt.settings.server
        try:
            conn = await self._open(rt, request, ws, key, address)
        except RoomkeyError as exc:
            rt.log_refusal("pusher connect", exc, address=address)
            try:
                await ws.send_str(pusher_error(exc))
                await ws.close(code=exc.code, message=close_reason(exc.message))
            except ConnectionError:
                pass  # the client left first
            return
        del request  # not kept for the connection's life
        self._conns.add(conn)
        self._idle.clear()
        try:
            conn.send(connection_established(conn.socket_id, server.activity_timeout))
            rt.connection_opened(conn)
            await self._read_loop(rt, conn, ws, limit)
        finally:
            try:
                await rt.hub.disconnect(conn)
            finally:
                rt.connection_closed(conn)
                writer = conn.writer
                if writer is not None and conn.closing is None:
                    writer.cancel()
                elif writer is not None:
                    # Let the writer flush the close frame, within bounds.
                    _, pending = await asyncio.wait(
                        {writer}, timeout=server.pusher_pong_timeout_seconds * 3
                    )
                    for task in pending:
                        task.cancel()
                if isinstance(ws, LeanWebSocket) and conn.closing is None:
                    # The client went or stopped answering: nothing more to send.
                    ws.abort()
                self._conns.discard(conn)
                if not self._conns:
                    self._idle.set()

    async def _open(
        self,
        rt: Runtime,
        request: web.Request,
        ws: AnyWebSocket,
        key: str,
        address: str,
    ) -> PusherConnection:
        """Admit one socket or raise: origin first (a foreign page costs nothing, not even a
        rate-limit hit), then the app, the connection rate of ``address`` (every attempt on a
        known app counts, as on Socket.IO), the protocol, the identity and the app's
        connection quota."""
        if not rt.origins.allows(request.headers.get("Origin"), request.host):
            raise Forbidden("origin is not allowed", reason="origin")
        app = await admit(rt, key, address)
        problem = protocol_problem(request.query.get("protocol"))
        if problem is not None:
            code, message = problem
            raise BadRequest(message, code=code)
        identity = await handshake_identity(rt, request, app, None, how="log in first")
        transport = ws.transport if isinstance(ws, LeanWebSocket) else request.transport
        conn = PusherConnection(
            app,
            new_socket_id(),
            ws=ws,
            identity=identity,
            address=address,
            write_timeout=rt.settings.server.pusher_pong_timeout_seconds,
            abort=transport.abort if transport is not None else lambda: None,
            tcp=(
                transport
                if rt.settings.performance.direct_writes
                and isinstance(transport, asyncio.Transport)
                else None
            ),
            spawn=self._tasks.spawn,
            on_overflow=rt.slow_consumer,
        )
        await rt.hub.connect(conn)
        return conn

    async def _read_loop(
        self, rt: Runtime, conn: PusherConnection, ws: AnyWebSocket, limit: int
    ) -> None:
        server = rt.settings.server
        awaiting_pong = False
        while conn.closing is None and not ws.closed:
            timeout = (
                server.pusher_pong_timeout_seconds if awaiting_pong else server.activity_timeout
            )
            try:
                msg = await ws.receive(timeout=timeout)
            except TimeoutError:
                if awaiting_pong:
                    conn.close(4201, "pong reply not received")
                    return
                awaiting_pong = True
                conn.send(frame("pusher:ping", {}))
                continue
            awaiting_pong = False
            if msg.type is WSMsgType.TEXT:
                await self._on_text(rt, conn, msg.data, limit)
            elif msg.type is WSMsgType.BINARY:
                # Pusher's protocol is JSON text: a client that sends binary is not speaking
                # it, so the socket ends (4300: pusher-js does not reconnect to repeat it).
                rt.metrics.count(rt.metrics.messages_received, conn.transport, "invalid frame")
                exc = BadRequest(
                    "binary frames are not accepted: Pusher's protocol is JSON text",
                    reason="binary",
                )
                rt.log_refusal("pusher frame", exc, conn=conn)
                conn.close(exc.code, exc.message)
                return
            else:  # CLOSE, CLOSING, CLOSED, ERROR (including frames past the hard limit)
                return

    async def _on_text(self, rt: Runtime, conn: PusherConnection, text: str, limit: int) -> None:
        # A str of n characters is at most 4n bytes of UTF-8: encode only when it matters.
        received = rt.metrics.messages_received
        if len(text) > limit or (len(text) * 4 > limit and len(text.encode()) > limit):
            rt.metrics.count(received, conn.transport, "invalid frame")
            self._refuse(
                rt,
                conn,
                "frame",
                PayloadTooLarge(
                    f"frame is larger than limits.max_pusher_frame_bytes ({limit} bytes)"
                ),
            )
            return
        try:
            parsed = parse_frame(text)
        except RoomkeyError as exc:
            rt.metrics.count(received, conn.transport, "invalid frame")
            self._refuse(rt, conn, "frame", exc)
            return
        what = _label(parsed.event)
        rt.metrics.count(received, conn.transport, _MESSAGE_TYPES.get(what, what))
        try:
            await self._dispatch(rt, conn, parsed)
        except RoomkeyError as exc:
            self._refuse(rt, conn, what, exc)
        except Exception:
            log.exception("pusher %s failed", what)
            conn.send(pusher_error(INTERNAL_ERROR))

    def _refuse(self, rt: Runtime, conn: PusherConnection, what: str, exc: RoomkeyError) -> None:
        rt.log_refusal(f"pusher {what}", exc, conn=conn)
        conn.send(pusher_error(exc))

    async def _dispatch(self, rt: Runtime, conn: PusherConnection, msg: Frame) -> None:
        event = msg.event
        if event == "pusher:ping":
            conn.send(frame("pusher:pong", {}))
        elif event == "pusher:pong":
            return
        elif event == "pusher:subscribe":
            await self._subscribe(rt, conn, msg.data)
        elif event == "pusher:unsubscribe":
            channel = parse_unsubscribe(msg.data).channel
            # pusher-js unsubscribes channels whose subscription is still pending or refused:
            # nothing to undo then, and nothing to answer (Pusher sends no acknowledgement).
            if channel in conn.channels:
                await rt.hub.unsubscribe(conn, channel)
        elif event == "pusher:signin":
            ack = await rt.hub.signin(conn, parse_signin(msg.data))
            conn.send(frame("pusher:signin_success", ack))
            await rt.hub.signed_in(conn)
        elif event.startswith(("pusher:", "pusher_internal:")):
            raise BadRequest(
                "unknown pusher: event; expected ping, pong, subscribe, unsubscribe or signin"
            )
        else:
            payload = {"channel": msg.channel, "event": event, "data": msg.data}
            await rt.hub.client_event(conn, parse_trigger(payload))

    async def _subscribe(self, rt: Runtime, conn: PusherConnection, data: Any) -> None:
        payload = subscribe_payload(data)
        raw_channel = payload.get("channel")
        try:
            rt.throttle.subscribe(conn)
            req = parse_subscribe(payload)
            if (
                channel_kind(req.channel) is ChannelKind.SERVER_TO_USER
                and req.channel in conn.channels
            ):
                # Sign-in already joined the user's own channel; pusher-js subscribes to it
                # after pusher:signin_success and waits for the confirmation.
                ack: dict[str, Any] = {"channel": req.channel}
            else:
                ack = await rt.hub.subscribe(conn, req)
        except RoomkeyError as exc:
            if not isinstance(raw_channel, str):
                raise
            rt.log_refusal("pusher subscribe", exc, conn=conn)
            for text in subscription_errors(raw_channel, exc):
                conn.send(text)
            return
        conn.send(subscription_succeeded(req.channel, ack))
        await rt.hub.subscribed(conn, req.channel)


_LABELS = {
    "pusher:ping": "ping",
    "pusher:pong": "pong",
    "pusher:subscribe": "subscribe",
    "pusher:unsubscribe": "unsubscribe",
    "pusher:signin": "signin",
}


# Client events are counted as "trigger", the name the Socket.IO transport gives them.
_MESSAGE_TYPES = {"client event": "trigger"}


def _label(event: str) -> str:
    """A fixed name for log lines: event names are client input and never reach a log."""
    return _LABELS.get(event, "client event" if event.startswith("client-") else "unknown event")
