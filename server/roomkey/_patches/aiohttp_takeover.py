"""Taking a connection away from aiohttp after a WebSocket upgrade
(``performance.lean_websockets``; ``transports/lean_websocket``).

``take_over(request, protocol, response)`` switches the request's TCP transport to
``protocol`` (``asyncio.Transport.set_protocol``), writes ``response`` (the ``101``) and
makes aiohttp's request handler let go of the connection without closing it:

1. the handler's ``transport`` is set to None, so nothing aiohttp does afterwards (writing
   the handler's response, closing at the end of its loop, ``force_close``) reaches the
   socket: aiohttp treats the connection as already gone;
2. its ``connection_lost(None)`` is called, as asyncio would have when the connection ended:
   the server drops it from its connections once the handler's task ends, its keep-alive
   timer is cancelled and its parser released. The handler then returns ``detached()``.

What the client sent after the upgrade request and before the switch (a client must wait for
the ``101``, but nothing forbids it to send early) is in the handler's ``_message_tail``; it
is handed to the new protocol first. aiohttp's graceful shutdown no longer sees these
connections: each transport closes its own sockets at shutdown.

Private parts of aiohttp used here (``shape_problems`` checks them at start-up; on a
mismatch ``lean_websockets`` is off and aiohttp's ``WebSocketResponse`` serves every socket):
``web_protocol.RequestHandler``'s ``transport`` attribute (assigned), ``connection_lost(exc)``
(called) and ``_message_tail`` (read).
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from aiohttp import web

from roomkey._patches.shape import method


class TakingOver(Protocol):
    def start(self, transport: asyncio.Transport, early: bytes) -> None: ...


def can_take_over(request: web.Request) -> bool:
    """Whether ``request``'s connection is one ``take_over`` can move: a live transport that
    supports switching protocols."""
    transport = request.transport
    return (
        isinstance(transport, asyncio.Transport)
        and not transport.is_closing()
        and hasattr(transport, "set_protocol")
        and hasattr(request.protocol, "_message_tail")
    )


def take_over(request: web.Request, protocol: Any, response: bytes) -> asyncio.Transport:
    """Move ``request``'s connection to ``protocol`` (an ``asyncio.Protocol`` with
    ``start(transport, early)``), write ``response`` and release aiohttp's side (see the
    module's docstring). Ask ``can_take_over`` first."""
    handler: Any = request.protocol
    transport = request.transport
    assert isinstance(transport, asyncio.Transport)
    early = bytes(getattr(handler, "_message_tail", b""))
    handler._message_tail = b""
    transport.set_protocol(protocol)
    transport.write(response)
    handler.transport = None
    handler.connection_lost(None)
    protocol.start(transport, early)
    return transport


def shape_problems(request_handler: type) -> list[str]:
    """aiohttp's ``RequestHandler`` has what ``take_over`` uses."""
    problems = method(request_handler, "connection_lost", ("exc",), coroutine=False)
    slots = {name for cls in request_handler.__mro__ for name in getattr(cls, "__slots__", ())}
    if "_message_tail" not in slots:
        problems.append(f"{request_handler.__name__}._message_tail is missing")
    if "transport" not in slots and not hasattr(request_handler, "transport"):
        problems.append(f"{request_handler.__name__}.transport is missing")
    return problems
