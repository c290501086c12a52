"""The Engine.IO WebSocket wrapper for aiohttp, with permessage-deflate under roomkey's control.

python-engineio's aiohttp driver opens every WebSocket with aiohttp's default
``compress=True``, so any client that offers permessage-deflate (every browser does) gets a
zlib compressor and decompressor per connection: about 100 KB of memory per idle socket, and
a compression pass per delivery. It has no setting for it. ``install`` swaps in this wrapper on
one Engine.IO server (its own copy of the driver table, never the shared module dict), which
opens the socket with ``compress`` taken from ``server.compression``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from engineio.async_drivers import aiohttp as eio_aiohttp


def websocket_factory(compress: bool) -> type[Any]:
    """An Engine.IO ``websocket`` driver class whose sockets use ``compress``."""

    class WebSocket(eio_aiohttp.WebSocket):  # type: ignore[misc]
        async def __call__(self, environ: dict[str, Any]) -> web.WebSocketResponse:
            request: web.Request = environ["aiohttp.request"]
            self._sock = web.WebSocketResponse(
                max_msg_size=self.server.max_http_buffer_size, compress=compress
            )
            await self._sock.prepare(request)
            self.environ = environ
            await self.handler(self)
            sock: web.WebSocketResponse = self._sock
            return sock

    return WebSocket


def install(eio_server: Any, *, compress: bool) -> None:
    """Make ``eio_server`` open its WebSockets with ``compress`` (permessage-deflate)."""
    eio_server._async = {**eio_server._async, "websocket": websocket_factory(compress)}
