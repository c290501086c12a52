"""Session kinds ``aiohttp_encrypted`` and ``aiohttp_nacl``: the session is in the cookie
itself, sealed by aiohttp-session with the app's key (``sealed_cookies``). Nothing to look
up: re-reading the session (``IdentityResolver.confirm``) opens the cookie again, so its
expiry keeps being checked; a logout in the app only drops the browser's cookie, and a
socket identified by a copy of it keeps it until ``max_age`` ends it."""

from __future__ import annotations

import time
from collections.abc import Callable

from roomkey.config import SessionSettings
from roomkey.identity.base import Identity
from roomkey.identity.sealed_cookies import open_fernet, open_nacl
from roomkey.identity.session_values import session_identity


class SealedCookieAuthenticator:
    def __init__(self, settings: SessionSettings, clock: Callable[[], float] = time.time) -> None:
        if settings.secret_key is None:
            raise ValueError(f"session kind {settings.resolved_kind} needs session.secret_key")
        self._settings = settings
        self._key = settings.secret_key
        self._open = open_nacl if settings.resolved_kind == "aiohttp_nacl" else open_fernet
        self._clock = clock
        self.cookie_name = settings.cookie_name

    async def authenticate(self, cookie: str) -> Identity:
        """The identity the sealed session names; ``Unauthorized`` (``invalid_session``,
        ``expired_session``, ``unknown_session`` when not logged in) otherwise."""
        s = self._settings
        data = self._open(cookie, self._key, s.max_age_seconds or None, self._clock())
        return session_identity(data, s.user_id_key, s.user_info_keys, cookie)

    async def close(self) -> None:
        return None
