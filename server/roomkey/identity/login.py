"""Logging a user in and out through roomkey's own session store (memory or Redis): a session
saved in aiohttp-session's format and the session cookie that names it, as the authorize
endpoint and the socket handshake read it (``identity/session.py``).

Used by ``Roomkey.login`` / ``Roomkey.logout`` and by the development demo.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from roomkey.config import SessionSettings
from roomkey.core.errors import BadRequest
from roomkey.core.protocol import dumps
from roomkey.identity.base import SessionStore

COOKIE_PATH = "/"


def session_record(
    settings: SessionSettings, user_id: str, user_info: Mapping[str, Any] | None
) -> dict[str, Any]:
    """What the session holds: ``{user_id_key: user_id, **user_info}``. The identity read
    back carries ``user_info``'s keys that ``session.user_info_keys`` names (the rest stay in
    the session, visible to channel rules as claims). ``BadRequest`` for an empty user id, a
    ``user_info`` that is not a JSON object of string keys or that sets the user id key."""
    if not isinstance(user_id, str) or not user_id:
        raise BadRequest("user_id must be a non-empty string")
    info = dict(user_info or {})
    if any(not isinstance(k, str) for k in info):
        raise BadRequest("user_info keys must be strings")
    if settings.user_id_key in info:
        raise BadRequest(f"user_info must not set {settings.user_id_key!r} (the user id key)")
    record = {settings.user_id_key: user_id, **info}
    try:
        dumps(record)
    except (TypeError, ValueError):
        raise BadRequest("user_info must be JSON-serializable") from None
    return record


async def log_in(
    store: SessionStore,
    settings: SessionSettings,
    response: web.StreamResponse,
    user_id: str,
    user_info: Mapping[str, Any] | None = None,
    *,
    secure: bool = False,
) -> None:
    """Save a new session for ``user_id`` and set the session cookie on ``response`` (path
    ``/``, HttpOnly, SameSite=Lax, ``Secure`` when ``secure``, ``Max-Age`` from
    ``session.max_age_seconds`` when set). ``response`` must not be prepared yet."""
    record = session_record(settings, user_id, user_info)
    max_age = settings.max_age_seconds or None
    session_id = await store.save(record, max_age)
    response.set_cookie(
        settings.cookie_name,
        session_id,
        path=COOKIE_PATH,
        httponly=True,
        samesite="Lax",
        secure=secure,
        max_age=max_age,
    )


async def log_out(
    store: SessionStore,
    settings: SessionSettings,
    request: web.BaseRequest,
    response: web.StreamResponse,
) -> None:
    """Delete the session ``request``'s cookie names (if any) and clear the cookie on
    ``response``. Sockets identified by that session stop being authorized within
    ``session.recheck_seconds``."""
    session_id = request.cookies.get(settings.cookie_name)
    if session_id:
        await store.delete(session_id)
    response.del_cookie(settings.cookie_name, path=COOKIE_PATH)
