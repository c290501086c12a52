"""One place that turns request credentials into an identity, for both HTTP and sockets, and
that says whether a socket may still rely on the identity it was given at the handshake."""

from __future__ import annotations

import time
from collections.abc import Callable

from roomkey.core.errors import Forbidden, Unauthorized
from roomkey.identity.base import Identity
from roomkey.identity.jwt import JwtAuthenticator
from roomkey.identity.session import SessionAuthenticator

DEFAULT_SESSION_RECHECK_SECONDS = 5.0


class IdentityResolver:
    """``resolve(bearer, cookie, cookie_allowed)``:

    - a bearer token wins; a bad one raises even if a cookie is present;
    - else a session cookie, only when ``cookie_allowed`` (the request came from an allowed
      origin): a cookie from a foreign origin raises ``Forbidden`` (cross-site hijacking);
    - else None (anonymous).

    A socket keeps its handshake identity for its whole life; ``confirm`` says whether that
    identity still holds when the socket relies on it (a subscribe without ``auth``), and
    ``refreshed`` takes a new token for it (``refresh``).
    """

    def __init__(
        self,
        jwt: JwtAuthenticator | None,
        session: SessionAuthenticator | None,
        *,
        session_recheck_seconds: float = DEFAULT_SESSION_RECHECK_SECONDS,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.jwt = jwt
        self.session = session
        self.session_recheck_seconds = session_recheck_seconds
        self._clock = clock
        self._monotonic = monotonic

    async def resolve(
        self, bearer: str | None, cookie: str | None, cookie_allowed: bool
    ) -> Identity | None:
        if bearer is not None:
            return self.from_bearer(bearer)
        if cookie:
            return await self.from_cookie(cookie, cookie_allowed)
        return None

    def from_bearer(self, bearer: str) -> Identity:
        """The identity a bearer token proves (synchronous: a signature check or a cache hit);
        ``Unauthorized`` when it does not verify or tokens are not enabled."""
        if self.jwt is None:
            raise Unauthorized(
                "bearer tokens are not enabled on this server", reason="invalid_token"
            )
        return self.jwt.authenticate(bearer)

    async def from_cookie(self, cookie: str, cookie_allowed: bool) -> Identity | None:
        """The identity of a session cookie (None without sessions or for an unknown or
        expired session); ``Forbidden`` when the cookie came from a foreign origin."""
        if self.session is None:
            return None
        if not cookie_allowed:
            raise Forbidden(
                "session cookies are accepted only from allowed origins", reason="origin"
            )
        return await self.session.authenticate(cookie)

    def now(self) -> float:
        """The time ``confirm`` measures ``confirmed_at`` against (monotonic seconds)."""
        return self._monotonic()

    async def confirm(self, identity: Identity, confirmed_at: float) -> Identity | None:
        """Whether a socket may still rely on its handshake ``identity``, last confirmed at
        ``confirmed_at`` (``now()`` seconds).

        - A token identity holds until the token's ``exp`` (plus leeway): checked against
          the clock, no look-up. Past it: ``Unauthorized`` (reason ``expired_token``).
        - A session identity is read again from the store when it was last confirmed
          ``session_recheck_seconds`` ago or more (0: at every use), so a deleted session
          (logout) stops authorizing within that bound. An ended session raises what the
          session authenticator raises (``unknown_session``, ``expired_session``); one that
          now names another user ``Unauthorized`` (reason ``other_user``); an unreachable
          store ``ServiceUnavailable``.

        Returns None when ``identity`` holds as it is, or the identity just read from the
        session (same user; its values may have changed), which the caller keeps with
        ``now()`` as its new confirmation time."""
        if identity.expired(self._clock()):
            raise Unauthorized(
                "the connection's token has expired: send refresh with a new token",
                reason="expired_token",
            )
        session_id = identity.session_id
        if session_id is None or self.session is None:
            return None
        if self._monotonic() - confirmed_at < self.session_recheck_seconds:
            return None
        fresh = await self.session.authenticate(session_id)
        if fresh.user_id != identity.user_id:
            raise Unauthorized(
                "the connection's session now identifies another user", reason="other_user"
            )
        return fresh

    def refreshed(self, current: Identity | None, token: str) -> Identity:
        """The identity of ``token``, to replace a socket's handshake token identity
        ``current``: ``Unauthorized`` when the socket has no token identity (reason
        ``no_token``), when the token does not verify (``invalid_token``,
        ``expired_token``), or when it is for another user (``other_user``). A token is
        taken after the old one expired too: it proves the same user afresh."""
        if current is None or current.source != "jwt":
            raise Unauthorized(
                "this connection was not identified by a token at the handshake: "
                "nothing to refresh",
                reason="no_token",
            )
        fresh = self.from_bearer(token)
        if fresh.user_id != current.user_id:
            raise Unauthorized(
                "the token is for another user than the connection's", reason="other_user"
            )
        return fresh


def bearer_from_header(value: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None when absent or another
    scheme."""
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()
