"""A refusal, told the way each client understands it: the one mapping from a ``RoomkeyError``
(``core/errors.py``: Pusher code, HTTP status, metric reason) to what the edges write.

- HTTP (authorize, REST, the demo, a request aiohttp cannot parse, a Pusher path asked
  without a WebSocket upgrade): ``error_response``, the error's status and
  ``{"error": {"code", "message"}}`` as JSON (``error_answer``), ``Cache-Control: no-store``,
  and ``Retry-After`` (whole seconds, at least 1) when rate limited.
- Socket.IO: a refused handshake is a ``connect_error`` whose data is ``{"code", "message",
  "reason"}``, again under ``data`` (``connect_error``); a refused request is answered through
  its acknowledgement with ``error_answer``.
- Pusher: a ``pusher:error`` frame ``{"code", "message"}`` (``pusher_error``); a socket that
  ends does so with a close frame carrying the same code and the message as reason, cut to
  what a close frame holds (``close_reason``).

The edges never build these shapes themselves; they log (``Runtime.log_refusal``) and send
what this module gives them. Wire contract: docs/protocol.md, docs/pusher-clients.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import socketio
from aiohttp import web
from multidict import CIMultiDict

from roomkey.core.errors import RateLimited, RoomkeyError, SlowConsumer
from roomkey.core.protocol import dumps
from roomkey.transports.pusher.wire import error_frame

# Every JSON answer roomkey writes over HTTP carries these headers (a refusal here, and the
# HTTP edges' other answers: ``http/context.json_response``).
JSON_TYPE = "application/json; charset=utf-8"
NO_STORE = {"Cache-Control": "no-store"}
_ERROR_HEADERS = CIMultiDict({"Content-Type": JSON_TYPE, **NO_STORE})

# A close frame's payload is at most 125 bytes: 2 for the code, the rest for the reason.
MAX_REASON_BYTES = 120

# What a client is told when roomkey itself failed (the traceback goes to roomkey's log only).
INTERNAL_ERROR = RoomkeyError("internal error", code=4300, status=500, reason="internal")
# A Socket.IO request from a socket the transport no longer (or not yet) knows.
NOT_CONNECTED = RoomkeyError("not connected", code=4300)


def error_answer(exc: RoomkeyError) -> dict[str, Any]:
    """``{"error": {"code", "message"}}``: an HTTP error body, a Socket.IO acknowledgement."""
    return {"error": exc.as_dict()}


def error_response(exc: RoomkeyError, headers: Mapping[str, str] | None = None) -> web.Response:
    """``exc`` as an HTTP answer: its status, ``error_answer`` as JSON, ``headers`` (CORS, an
    ``Allow``) added; ``Retry-After`` in whole seconds (at least 1) when rate limited."""
    h = _ERROR_HEADERS.copy()
    if headers:
        h.update(headers)
    if isinstance(exc, RateLimited):
        h["Retry-After"] = str(max(1, round(exc.retry_after)))
    return web.Response(body=dumps(error_answer(exc)).encode(), status=exc.status, headers=h)


def connect_error(exc: RoomkeyError) -> socketio.exceptions.ConnectionRefusedError:
    """A refused Socket.IO handshake: raised from the connect handler, python-socketio sends
    it as ``connect_error``. Its data is ``{"code", "message", "reason"}`` for Python clients
    and, under ``data``, for socket.io-client (which exposes it as ``err.data``)."""
    refused = socketio.exceptions.ConnectionRefusedError(exc.message)
    detail = {"code": exc.code, "message": exc.message, "reason": exc.reason}
    refused.error_args = {**detail, "data": detail}
    return refused


def pusher_error(exc: RoomkeyError) -> str:
    """The ``pusher:error`` frame that tells a Pusher client about ``exc``."""
    return error_frame(exc.code, exc.message)


def close_reason(message: str) -> bytes:
    """``message`` as a WebSocket close reason: its UTF-8, cut to ``MAX_REASON_BYTES``."""
    return message.encode()[:MAX_REASON_BYTES]


def slow_consumer(limit: int) -> SlowConsumer:
    """Why a transport drops a socket whose outbound buffer went over ``limit`` bytes."""
    return SlowConsumer(
        f"outbound buffer over limits.max_outbound_buffer_bytes ({limit}): "
        "the client is not reading"
    )
