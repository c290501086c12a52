"""Identity from a session cookie, and the session stores.

The format is aiohttp-session's: the cookie holds a session id; the store keeps
``{"created": unix_seconds, "session": {...}}`` as JSON. ``RedisSessionStore`` uses the key
``{cookie_name}_{session_id}`` exactly as aiohttp-session's ``RedisStorage`` does, so an aiohttp
application logging users in with aiohttp-session and Redis shares its login with roomkey.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from roomkey.config import RedisSettings, SessionSettings
from roomkey.core.errors import Unauthorized
from roomkey.identity.base import Identity, SessionStore
from roomkey.identity.session_values import session_identity
from roomkey.redis_client import bounded, open_redis

_SESSION_ID_RE = re.compile(r"[A-Za-z0-9_\-]{1,128}")


class MemorySessionStore(SessionStore):
    """Sessions in this process, at most ``max_sessions`` (oldest evicted first)."""

    def __init__(self, max_sessions: int = 100_000) -> None:
        self._records: OrderedDict[str, tuple[dict[str, Any], float | None]] = OrderedDict()
        self._max = max_sessions

    async def load(self, session_id: str) -> Mapping[str, Any] | None:
        item = self._records.get(session_id)
        if item is None:
            return None
        record, expires = item
        if expires is not None and expires < time.time():
            del self._records[session_id]
            return None
        return record

    async def save(self, session: Mapping[str, Any], max_age: int | None = None) -> str:
        session_id = secrets.token_hex(16)
        expires = time.time() + max_age if max_age else None
        self._records[session_id] = (
            {"created": int(time.time()), "session": dict(session)},
            expires,
        )
        while len(self._records) > self._max:
            self._records.popitem(last=False)
        return session_id

    async def delete(self, session_id: str) -> None:
        self._records.pop(session_id, None)

    async def close(self) -> None:
        self._records.clear()


class RedisSessionStore(SessionStore):
    """aiohttp-session's ``RedisStorage`` layout on a Redis server. A Redis that cannot be
    reached raises ``ServiceUnavailable`` (503 / 4200), never a bare Redis error."""

    def __init__(self, redis: str | RedisSettings, cookie_name: str, timeout: float = 2.0) -> None:
        """``redis``: the URL of one Redis, or ``[redis]`` settings (any topology)."""
        # Opened like the broker's and presence store's clients: bounded connect and read
        # times, no hidden retries; every call below is also bounded by ``timeout``.
        if isinstance(redis, str):
            redis = RedisSettings(url=redis, operation_timeout_seconds=timeout)
        self._redis = open_redis(redis, name="roomkey-sessions")
        self._timeout = timeout
        self._prefix = cookie_name + "_"

    async def load(self, session_id: str) -> Mapping[str, Any] | None:
        raw = await bounded(
            self._redis.get(self._prefix + session_id), self._timeout, "session store"
        )
        if raw is None:
            return None
        try:
            record = json.loads(raw)
        except ValueError:
            return None
        return record if isinstance(record, dict) else None

    async def save(self, session: Mapping[str, Any], max_age: int | None = None) -> str:
        session_id = secrets.token_hex(16)
        record = json.dumps({"created": int(time.time()), "session": dict(session)})
        await bounded(
            self._redis.set(self._prefix + session_id, record, ex=max_age or None),
            self._timeout,
            "session store",
        )
        return session_id

    async def delete(self, session_id: str) -> None:
        await bounded(self._redis.delete(self._prefix + session_id), self._timeout, "session store")

    async def close(self) -> None:
        await self._redis.aclose()


def create_session_store(
    settings: SessionSettings, redis: str | RedisSettings, timeout: float
) -> SessionStore:
    """The session store of kinds ``memory`` and ``aiohttp_redis`` (``create_identity``):
    ``aiohttp_redis`` on ``session.redis_url`` when set, else ``redis`` (the ``[redis]``
    topology, or a URL)."""
    if settings.resolved_kind == "aiohttp_redis":
        return RedisSessionStore(settings.redis_url or redis, settings.cookie_name, timeout)
    return MemorySessionStore()


class SessionAuthenticator:
    """Session kinds ``memory`` and ``aiohttp_redis``: the cookie is a session id in
    ``store``."""

    def __init__(self, settings: SessionSettings, store: SessionStore) -> None:
        self._settings = settings
        self.store = store
        self.cookie_name = settings.cookie_name

    async def authenticate(self, cookie: str) -> Identity:
        """The identity of the session the cookie names; ``Unauthorized`` with reason
        ``invalid_session``, ``unknown_session`` or ``expired_session`` otherwise."""
        s = self._settings
        if _SESSION_ID_RE.fullmatch(cookie) is None:
            raise Unauthorized("invalid session cookie", reason="invalid_session")
        record = await self.store.load(cookie)
        if record is None:
            raise Unauthorized("unknown or ended session", reason="unknown_session")
        data = record.get("session")
        created = record.get("created")
        if not isinstance(data, Mapping):
            raise Unauthorized("unknown or ended session", reason="unknown_session")
        if s.max_age_seconds and isinstance(created, int | float):
            if created + s.max_age_seconds < time.time():
                raise Unauthorized("session has expired", reason="expired_session")
        return session_identity(data, s.user_id_key, s.user_info_keys, cookie)

    async def close(self) -> None:
        """Nothing: the store is closed by its owner (``app.py``), which the demo shares."""
