"""A bounded cache of verified bearer tokens, so a page that authorizes many channels with one
token pays for one signature check instead of one per request.

Only tokens that verified are cached, keyed by the exact token string (its signature was
checked over exactly those bytes); each entry keeps the identity, whose ``expires_at`` is the
token's ``int(exp) + leeway``, and a hit is served only while ``now < expires_at``, the same
rule PyJWT applies (``Identity.expired``). Rejections are never cached. Least recently used
entries go first once ``size`` is reached (``performance.jwt_cache_size``).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from roomkey.config import JwtSettings
from roomkey.core.errors import Unauthorized
from roomkey.identity.base import Identity
from roomkey.identity.jwt import JwtAuthenticator


class CachedJwtAuthenticator(JwtAuthenticator):
    def __init__(
        self, settings: JwtSettings, size: int, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(settings)
        self._size = size
        self._clock = clock
        self._entries: OrderedDict[str, Identity] = OrderedDict()

    def authenticate(self, token: str) -> Identity:
        """As ``JwtAuthenticator.authenticate``; a cached identity while the token lives."""
        identity = self._entries.get(token)
        if identity is not None:
            if not identity.expired(self._clock()):
                self._entries.move_to_end(token)
                return identity
            del self._entries[token]
            raise Unauthorized("token has expired", reason="expired_token")
        identity = super().authenticate(token)
        if identity.expires_at is not None:
            self._entries[token] = identity
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return identity

    def __len__(self) -> int:
        return len(self._entries)
