"""One place that turns request credentials into an identity, for both HTTP and sockets."""

from __future__ import annotations

from roomkey.errors import Forbidden, Unauthorized
from roomkey.identity.base import Identity
from roomkey.identity.jwt import JwtAuthenticator
from roomkey.identity.session import SessionAuthenticator


class IdentityResolver:
    """``resolve(bearer, cookie, cookie_allowed)``:

    - a bearer token wins; a bad one raises even if a cookie is present;
    - else a session cookie, only when ``cookie_allowed`` (the request came from an allowed
      origin): a cookie from a foreign origin raises ``Forbidden`` (cross-site hijacking);
    - else None (anonymous).
    """

    def __init__(self, jwt: JwtAuthenticator | None, session: SessionAuthenticator | None) -> None:
        self.jwt = jwt
        self.session = session

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


def bearer_from_header(value: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None when absent or another
    scheme."""
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()
