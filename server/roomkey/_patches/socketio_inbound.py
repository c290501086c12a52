"""Inbound Socket.IO packets, checked before python-socketio dispatches them.

roomkey's Socket.IO protocol is JSON text (docs/protocol.md). Left to itself, python-socketio
would:

- keep a binary packet (type 5 BINARY_EVENT or 6 BINARY_ACK) and every attachment that
  follows it in memory until the last one arrives, however many and however large;
- hand an event that a client names like one of the server's own handlers (``connect``,
  ``disconnect``, the catch-all ``*``) to that handler: a client emitting ``disconnect``
  would leave the hub while its socket stays open;
- raise, and have the exception logged with a traceback, on a packet it cannot decode (bad
  JSON, JSON nested past the interpreter's recursion limit, an unknown type) or on an event
  that is not ``[name, ...]``.

``GuardedSocketIOServer`` decodes each Engine.IO message itself and tells its
``InboundRefusals`` (the transport) about anything it will not dispatch:

- binary data (a binary WebSocket frame, a long-polling ``b`` packet, a packet of type 5 or
  6): ``refuse_binary``, before anything of it is kept; the transport answers and closes;
- a packet that does not decode, JSON nested deeper than ``protocol.MAX_JSON_DEPTH``, a type
  a client may not send, or an event that is not an array starting with a string:
  ``refuse_malformed``, with the acknowledgement id when the packet has one; the socket stays open;
- an event named like an internal handler (``INTERNAL_EVENTS``) is dispatched as an
  unknown event, so it gets the answer every unknown event gets.

Everything else reaches python-socketio's own handlers as before.

Private parts of python-socketio's ``AsyncServer`` used here: ``_handle_eio_message(eio_sid,
data)`` (overridden: what the Engine.IO ``message`` event calls), and ``_handle_connect(eio_sid,
namespace, data)``, ``_handle_disconnect(eio_sid, namespace, reason)``,
``_handle_event(eio_sid, namespace, id, data)`` and ``_handle_ack(eio_sid, namespace, id,
data)`` (called as python-socketio's own dispatch calls them). This is a guard with no safe
fallback: ``shape_problems`` is checked at start-up (``roomkey._patches.install``), and a
server whose ``message`` event does not reach the override refuses to be built, so a library
upgrade that changes them stops roomkey instead of leaving it silently unguarded.
"""

from __future__ import annotations

import json
import re
from typing import Any, Protocol

import socketio
from engineio import json as engineio_json
from socketio import packet as sio_packet

from roomkey._patches.shape import SILENT, LibraryMismatch, library_version, method
from roomkey._patches.socketio_queue import MeteredSocketIOServer
from roomkey.core.errors import BadRequest
from roomkey.core.protocol import TOO_DEEP_MESSAGE, json_too_deep

# Names python-socketio gives its own events (server and client side) and its catch-all.
INTERNAL_EVENTS = frozenset(
    {*socketio.AsyncServer.reserved_events, *socketio.AsyncClient.reserved_events, "*"}
)
# What an event with an internal name is dispatched as: a name no handler is registered
# under, so that it reaches the catch-all (the unknown-event answer).
UNKNOWN_EVENT_ALIAS = "(reserved event name)"

_BINARY_TYPES = (str(sio_packet.BINARY_EVENT), str(sio_packet.BINARY_ACK))
# The head of a text packet, as python-socketio decodes it: type, attachments, namespace, id.
_HEAD = re.compile(r"(?P<type>[0-9])(?:[0-9]+-)?(?:(?P<nsp>/[^,]*),)?(?P<id>[0-9]{1,100})?")


class JsonTooDeep(ValueError):
    """JSON nested deeper than ``protocol.MAX_JSON_DEPTH``."""


class BoundedJson:
    """The ``json`` option of python-socketio (which hands it to python-engineio): the
    standard encoder, and python-engineio's decoder behind a nesting bound. Both libraries
    treat a ``ValueError`` from ``loads`` as a packet that does not decode; a
    ``RecursionError`` would escape them. The libraries set it on their packet classes, so it
    holds for every Socket.IO server and client in the process: the same as their default
    module but for JSON nested deeper than ``protocol.MAX_JSON_DEPTH``. Should something else
    replace it, ``GuardedSocketIOServer`` still answers a ``RecursionError`` as a packet that
    does not decode."""

    dumps = staticmethod(json.dumps)

    @staticmethod
    def loads(text: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(text, str) and json_too_deep(text):
            raise JsonTooDeep(TOO_DEEP_MESSAGE)
        try:
            return engineio_json.loads(text, *args, **kwargs)
        except RecursionError:
            raise JsonTooDeep(TOO_DEEP_MESSAGE) from None


class InboundRefusals(Protocol):
    """What the transport does with packets the server does not dispatch."""

    async def refuse_binary(self, eio_sid: str) -> None:
        """Binary data arrived on ``eio_sid``: refuse it and close the socket."""

    async def refuse_malformed(
        self, eio_sid: str, namespace: str | None, ack_id: int | None, exc: BadRequest
    ) -> None:
        """A packet that cannot be dispatched: answer ``exc`` (through acknowledgement
        ``ack_id`` when there is one); the socket stays open."""


def shape_problems(server_class: type) -> list[str]:
    """``server_class`` (python-socketio's ``AsyncServer``) has the private methods the guard
    overrides and calls, of the signatures expected, and a server of it has its Engine.IO
    ``message`` event call ``_handle_eio_message``."""
    problems = [
        *method(server_class, "_handle_eio_message", ("eio_sid", "data"), coroutine=True),
        *method(server_class, "_handle_connect", ("eio_sid", "namespace", "data"), coroutine=True),
        *method(
            server_class, "_handle_disconnect", ("eio_sid", "namespace", "reason"), coroutine=True
        ),
        *method(
            server_class, "_handle_event", ("eio_sid", "namespace", "id", "data"), coroutine=True
        ),
        *method(
            server_class, "_handle_ack", ("eio_sid", "namespace", "id", "data"), coroutine=True
        ),
    ]
    if problems:
        return problems
    server = server_class(async_mode="aiohttp", logger=SILENT, engineio_logger=SILENT)
    if not _dispatches_to_override(server):
        problems.append(
            f"{server_class.__name__}'s Engine.IO message event no longer calls _handle_eio_message"
        )
    if not hasattr(getattr(server, "reason", None), "CLIENT_DISCONNECT"):
        problems.append(f"{server_class.__name__}.reason.CLIENT_DISCONNECT is missing")
    if not callable(getattr(server, "packet_class", None)):
        problems.append(f"{server_class.__name__}.packet_class is missing")
    return problems


def _dispatches_to_override(server: Any) -> bool:
    handlers = getattr(getattr(server, "eio", None), "handlers", None)
    return isinstance(handlers, dict) and handlers.get("message") == server._handle_eio_message


def packet_head(text: str) -> tuple[int | None, str | None, int | None]:
    """``(type, namespace, ack id)`` read from the start of a text packet without decoding
    its JSON (for answering one that does not decode); None where absent."""
    match = _HEAD.match(text)
    if match is None:
        return None, None, None
    ack = match.group("id")
    return int(match.group("type")), match.group("nsp"), int(ack) if ack is not None else None


class GuardedSocketIOServer(MeteredSocketIOServer):
    """A python-socketio server that dispatches only well-formed JSON-text packets (see the
    module's docstring). ``refusals`` is told about everything else."""

    def __init__(self, *args: Any, refusals: InboundRefusals, **kwargs: Any) -> None:
        """Raises ``LibraryMismatch`` when python-socketio does not dispatch Engine.IO
        messages through ``_handle_eio_message`` (the guard would never run)."""
        super().__init__(*args, json=BoundedJson, **kwargs)
        if not _dispatches_to_override(self):
            raise LibraryMismatch(
                f"{library_version('python-socketio')}: its Engine.IO message event no "
                "longer calls AsyncServer._handle_eio_message, so roomkey's inbound packet "
                "guard would never run; roomkey needs updating for this version"
            )
        self.refusals = refusals

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        if isinstance(data, bytes | bytearray) or (
            isinstance(data, str) and data.startswith(_BINARY_TYPES)
        ):
            await self.refusals.refuse_binary(eio_sid)
            return
        if not isinstance(data, str) or not data:
            # python-engineio decoded the message as JSON itself (a text packet whose payload
            # does not start with a Socket.IO packet type), or it is empty.
            await self._malformed(eio_sid, "", "not a Socket.IO packet")
            return
        try:
            pkt = self.packet_class(encoded_packet=data)
        except JsonTooDeep:
            await self._malformed(eio_sid, data, TOO_DEEP_MESSAGE)
            return
        except (ValueError, TypeError, RecursionError):
            await self._malformed(eio_sid, data, "not a valid Socket.IO packet")
            return
        kind = pkt.packet_type
        if kind == sio_packet.EVENT:
            event = pkt.data[0] if isinstance(pkt.data, list) and pkt.data else None
            if not isinstance(event, str):
                await self._malformed(
                    eio_sid, data, "an event must be a JSON array that starts with its name"
                )
                return
            if event in INTERNAL_EVENTS:
                pkt.data[0] = UNKNOWN_EVENT_ALIAS
            await self._handle_event(eio_sid, pkt.namespace, pkt.id, pkt.data)
        elif kind == sio_packet.CONNECT:
            await self._handle_connect(eio_sid, pkt.namespace, pkt.data)
        elif kind == sio_packet.DISCONNECT:
            await self._handle_disconnect(eio_sid, pkt.namespace, self.reason.CLIENT_DISCONNECT)
        elif kind == sio_packet.ACK:
            await self._handle_ack(eio_sid, pkt.namespace, pkt.id, pkt.data)
        else:  # CONNECT_ERROR (the server's to send) or no type at all
            await self._malformed(eio_sid, data, "a client may not send this packet type")

    async def _malformed(self, eio_sid: str, text: str, message: str) -> None:
        kind, namespace, ack_id = packet_head(text)
        if kind != sio_packet.EVENT:
            ack_id = None  # only an event asks for an answer
        await self.refusals.refuse_malformed(eio_sid, namespace, ack_id, BadRequest(message))
