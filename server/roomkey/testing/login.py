"""Logging a test client in as the host application's login route would: through
``Roomkey.login``, the cookie it sets landing in the client's jar."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web
from yarl import URL

from roomkey.testing.client import RoomkeyClient

__all__ = ["login"]


async def login(
    client: RoomkeyClient, user_id: str, user_info: Mapping[str, object] | None = None
) -> None:
    """Log ``user_id`` in (with ``user_info``, e.g. ``{"name": ...}``) through the handle of
    the roomkey the client targets (``Roomkey.of(app).login``: a session in roomkey's own
    store, memory or Redis) and put the session cookie it sets in the client's jar. Call it
    before ``connect()`` for the socket to be identified by it (the authorize endpoint
    reads the jar at each call).

    The client must target a running application (``aiohttp_server``'s result), and
    ``[session]`` must be on."""
    app = client.target.application
    if app is None:
        raise LookupError("login needs the running application: open the client on it")
    from roomkey.handle import Roomkey

    response = web.Response()
    await Roomkey.of(app).login(response, user_id, dict(user_info or {}))
    client.http.cookie_jar.update_cookies(response.cookies, response_url=URL(client.target.url))
