"""A bounded cache of verified bearer tokens, so a page that authorizes many channels with one
token pays for one signature check instead of one per request.

Only tokens that verified are cached, keyed by the exact token string (its signature was
checked over exactly those bytes); each entry keeps the identity and the token's ``exp``, and
a hit is served only while ``now < exp + leeway``, the same rule PyJWT applies. Rejections are
never cached. Least recently used entries go first once ``size`` is reached
(``performance.jwt_cache_size``).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from roomkey.config import JwtSettings
from roomkey.errors import Unauthorized
from roomkey.identity.base import Identity
from roomkey.identity.jwt import JwtAuthenticator


class CachedJwtAuthenticator(JwtAuthenticator):
    def __init__(
        self, settings: JwtSettings, size: int, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(settings)
        self._size = size
        self._clock = clock
        self._leeway = settings.leeway_seconds
        self._entries: OrderedDict[str, tuple[Identity, float]] = OrderedDict()

    def authenticate(self, token: str) -> Identity:
        """As ``JwtAuthenticator.authenticate``; a cached identity while the token lives."""
        entry = self._entries.get(token)
        if entry is not None:
            identity, expires = entry
            if self._clock() < expires:
                self._entries.move_to_end(token)
                return identity
            del self._entries[token]
            raise Unauthorized("token has expired", reason="expired_token")
        identity = super().authenticate(token)
        exp = identity.claims.get("exp")
        if isinstance(exp, int | float) and not isinstance(exp, bool):
            self._entries[token] = (identity, float(exp) + self._leeway)
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return identity

    def __len__(self) -> int:
        return len(self._entries)
