"""What both transports check before a socket joins the hub, in the same words.

The order is each transport's (the Pusher transport checks the origin first and the protocol
version between these two; Engine.IO checks the origin before Socket.IO's handshake), the
steps are shared: the app and the connection rate of the client's address (``admit``), then
the handshake's identity and the app's ``require_identity`` (``handshake_identity``). A
refusal raises the ``RoomkeyError`` the transport tells the client (``roomkey.refusals``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from roomkey.config import AppSettings
from roomkey.core.errors import Unauthorized
from roomkey.identity.base import Identity
from roomkey.identity.request import request_identity

if TYPE_CHECKING:
    from roomkey.runtime import Runtime


async def admit(rt: Runtime, key: object, address: str) -> AppSettings:
    """The enabled app with ``key`` (``UnknownApp`` otherwise), once ``address`` may open one
    more connection to it (``RateLimited`` otherwise: every attempt on a known app counts)."""
    app = rt.apps.by_key(key)
    await rt.admit_connection(app, address)
    return app


async def handshake_identity(
    rt: Runtime, request: web.Request, app: AppSettings, token: str | None, *, how: str
) -> Identity | None:
    """Who opens the socket: ``token`` (a JWT the handshake carried), else the session
    cookie; a socket's token travels in its handshake, so no ``Authorization`` header is read.
    None when anonymous and ``app`` allows it; ``Unauthorized`` (``no_identity``) telling the
    client ``how`` to identify when the app requires an identity; the resolver's errors for
    credentials that do not hold."""
    identity = await request_identity(rt, request, token, header=False)
    if app.require_identity and identity is None:
        raise Unauthorized(f"this app requires an identity: {how}", reason="no_identity")
    return identity
