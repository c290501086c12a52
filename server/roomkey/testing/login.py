"""Logging a test client in through roomkey's own session store, as the host application's
login route would: the session cookie lands in the client's jar."""

from __future__ import annotations

from collections.abc import Mapping

from yarl import URL

from roomkey.testing.client import RoomkeyClient

__all__ = ["login"]


async def login(
    client: RoomkeyClient, user_id: str, user_info: Mapping[str, object] | None = None
) -> str:
    """Save a logged-in session for ``user_id`` (with ``user_info``, e.g. ``{"name": ...}``)
    in the session store of the roomkey the client targets, and put its cookie in the
    client's jar; returns the session id. Call it before ``connect()`` for the socket to be
    identified by it (the authorize endpoint reads the jar at each call).

    The target must come from a running application (``aiohttp_server``'s result), and
    ``[session]`` must be on."""
    app = client.target.application
    if app is None:
        raise LookupError("login needs the running application: open the client on it")
    from roomkey.runtime import RUNTIME

    runtime = app[RUNTIME]
    settings = runtime.settings.session
    if runtime.sessions is None:
        raise LookupError("[session] is off in these settings: nothing to log in to")
    session = {settings.user_id_key: user_id, **dict(user_info or {})}
    session_id = await runtime.sessions.save(session, settings.max_age_seconds or None)
    client.http.cookie_jar.update_cookies(
        {settings.cookie_name: session_id}, response_url=URL(client.target.url)
    )
    return session_id
