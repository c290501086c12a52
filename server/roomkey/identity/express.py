"""Session kind ``express``: express-session's signed cookie (``connect.sid``), the session
JSON in Redis as connect-redis keeps it (``{prefix}{session id}``, default ``sess:``).

The cookie is verified with the app's secrets (``signed_cookies.unsign``) before Redis is
asked anything. The session is refused when it is not in Redis (a logout destroys it, and
connect-redis's TTL ends it), when it is not a JSON object or is larger than
``MAX_SESSION_BYTES``, and when its own ``cookie.expires`` has passed. The user id and user
info come from the configured keys or dotted paths (Passport: ``passport.user``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from roomkey.config import RedisSettings, SessionSettings
from roomkey.core.errors import Unauthorized
from roomkey.identity.base import Identity
from roomkey.identity.session_values import session_identity
from roomkey.identity.signed_cookies import unsign
from roomkey.redis_client import bounded, open_redis

MAX_SESSION_BYTES = 64 * 1024
# What a session id may be once its signature holds (uid-safe's ids, UUIDs, most genid()s).
_SESSION_ID_RE = re.compile(r"[A-Za-z0-9_\-+/=.:]{1,256}")


class ExpressSessionAuthenticator:
    def __init__(
        self,
        settings: SessionSettings,
        redis: str | RedisSettings,
        timeout: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._secrets = settings.secrets
        self._prefix = settings.prefix
        self._timeout = timeout
        self._clock = clock
        if isinstance(redis, str):  # session.redis_url; else the [redis] topology
            redis = RedisSettings(url=redis, operation_timeout_seconds=timeout)
        self._redis = open_redis(redis, name="roomkey-express-sessions")
        self.cookie_name = settings.cookie_name

    async def authenticate(self, cookie: str) -> Identity:
        """The identity of the session a signed cookie names; ``Unauthorized``
        (``invalid_session``, ``unknown_session``, ``expired_session``) otherwise,
        ``ServiceUnavailable`` when Redis cannot be reached."""
        session_id = unsign(cookie, self._secrets)
        if session_id is None or _SESSION_ID_RE.fullmatch(session_id) is None:
            raise Unauthorized(
                "invalid session cookie (not signed with the app's secret)",
                reason="invalid_session",
            )
        raw = await bounded(
            self._redis.get(self._prefix + session_id), self._timeout, "session store"
        )
        if raw is None:
            raise Unauthorized("unknown or ended session", reason="unknown_session")
        data = parse_session(raw)
        if session_expired(data, self._clock()):
            raise Unauthorized("session has expired", reason="expired_session")
        s = self._settings
        return session_identity(data, s.user_id_key, s.user_info_keys, cookie)

    async def close(self) -> None:
        await self._redis.aclose()


def parse_session(raw: bytes | str) -> Mapping[str, Any]:
    """An express-session session from its stored JSON: ``Unauthorized``
    (``invalid_session``) when too large or not a JSON object."""
    if len(raw) > MAX_SESSION_BYTES:
        raise Unauthorized("session is too large", reason="invalid_session")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Unauthorized("session is not JSON", reason="invalid_session") from None
    if not isinstance(data, dict):
        raise Unauthorized("session is not a JSON object", reason="invalid_session")
    return data


def session_expired(data: Mapping[str, Any], now: float) -> bool:
    """Whether the session's cookie has expired: its ``cookie.expires`` (an ISO 8601 time,
    null for a browser-session cookie) is at or before ``now``. An unreadable one counts as
    expired."""
    cookie = data.get("cookie")
    if cookie is None:
        return False
    if not isinstance(cookie, Mapping):
        return True
    expires = cookie.get("expires")
    if expires is None:
        return False
    if not isinstance(expires, str):
        return True
    try:
        when = datetime.fromisoformat(expires)
    except ValueError:
        return True
    if when.tzinfo is None:
        return True
    return when.timestamp() <= now
