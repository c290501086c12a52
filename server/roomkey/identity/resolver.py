"""One place that turns request credentials into an identity, for both HTTP and sockets, and
that says whether a socket may still rely on the identity it was given at the handshake.

The sources (``[identity] order``, docs/identity.md): ``bearer`` (a JWT), ``session`` (the
session cookie of ``session.kind``), ``app`` (ask the app with the Cookie and Authorization
headers). They are tried in order, and the first one whose credential the request carries
decides: its identity, or its refusal (a credential that is present and bad is never passed
over for the next source). Each source's refusals are counted by reason (``on_refusal``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from roomkey.core.errors import Forbidden, IdentityUnavailable, RoomkeyError, Unauthorized
from roomkey.identity.app_endpoint import AppIdentitySource
from roomkey.identity.base import Identity, SessionSource
from roomkey.identity.jwt import JwtAuthenticator

DEFAULT_SESSION_RECHECK_SECONDS = 5.0
SOURCES = ("bearer", "session", "app")

RefusalCounter = Callable[[str, str], None]
"""``count(source, reason)``: one refusal of an identity source."""


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
        session: SessionSource | None,
        *,
        app: AppIdentitySource | None = None,
        order: tuple[str, ...] = SOURCES,
        session_recheck_seconds: float = DEFAULT_SESSION_RECHECK_SECONDS,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.jwt = jwt
        self.session = session
        self.app = app
        configured = {"bearer": jwt, "session": session, "app": app}
        # The configured sources, in order (an unconfigured one is skipped).
        self.order = tuple(name for name in order if configured.get(name) is not None)
        # A bearer token decides at once (no await) when tokens are the first source.
        self.bearer_first = bool(self.order) and self.order[0] == "bearer"
        self.session_recheck_seconds = session_recheck_seconds
        self.on_refusal: RefusalCounter = lambda source, reason: None
        self._clock = clock
        self._monotonic = monotonic

    @property
    def session_cookie_name(self) -> str | None:
        """The cookie the session source reads; None without one."""
        return self.session.cookie_name if "session" in self.order and self.session else None

    async def identify(
        self,
        *,
        bearer: str | None,
        cookies: Mapping[str, str],
        cookie_header: str | None,
        authorization: str | None,
        cookie_allowed: bool,
    ) -> Identity | None:
        """Who sent a request, trying the sources in ``order``: ``bearer`` (the token, from
        the Authorization header or the handshake), ``cookies`` (the parsed Cookie header,
        for the session source), ``cookie_header`` and ``authorization`` (forwarded as they
        are to the app). Cookies count only when ``cookie_allowed`` (an allowed origin):
        otherwise a source that would read one raises ``Forbidden``. None when no source
        finds its credential (or the app says no identity). A bearer token that no source
        can take (no ``bearer`` source and no ``app`` to forward it to) is refused at once
        with ``Unauthorized`` (``invalid_token``), as it always was, even beside a cookie;
        one that no source took in the end is refused the same way."""
        if bearer is not None and self.jwt is None and "app" not in self.order:
            return self.from_bearer(bearer)  # refused: no source takes a token
        for name in self.order:
            if name == "bearer" and bearer is not None:
                return self.from_bearer(bearer)
            if name == "session":
                cookie_name = self.session_cookie_name
                cookie = cookies.get(cookie_name) if cookie_name else None
                if cookie:
                    return await self.from_cookie(cookie, cookie_allowed)
            if name == "app" and (cookie_header or authorization):
                return await self._from_app(cookie_header, authorization, cookie_allowed)
        if bearer is not None:
            raise Unauthorized(
                "bearer tokens are not enabled on this server", reason="invalid_token"
            )
        return None

    async def _from_app(
        self, cookie_header: str | None, authorization: str | None, cookie_allowed: bool
    ) -> Identity | None:
        assert self.app is not None
        try:
            if cookie_header and not cookie_allowed:
                raise Forbidden("cookies are accepted only from allowed origins", reason="origin")
            headers: dict[str, str] = {}
            if cookie_header:
                headers["Cookie"] = cookie_header
            if authorization:
                headers["Authorization"] = authorization
            identity = await self.app.identify(headers)
        except RoomkeyError as exc:
            self._refused("app", exc)
            raise
        if identity is None:
            self.on_refusal("app", "no_identity")
        return identity

    def _refused(self, source: str, exc: RoomkeyError) -> None:
        reason = exc.cause if isinstance(exc, IdentityUnavailable) else exc.reason
        self.on_refusal(source, reason)

    async def close(self) -> None:
        """Close what the sources hold open (a Redis client, the app's HTTP client)."""
        if self.session is not None:
            await self.session.close()
        if self.app is not None:
            await self.app.close()

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
        try:
            return self.jwt.authenticate(bearer)
        except RoomkeyError as exc:
            self._refused("bearer", exc)
            raise

    async def from_cookie(self, cookie: str, cookie_allowed: bool) -> Identity | None:
        """The identity of a session cookie (None without sessions or for an unknown or
        expired session); ``Forbidden`` when the cookie came from a foreign origin."""
        if self.session is None:
            return None
        try:
            if not cookie_allowed:
                raise Forbidden(
                    "session cookies are accepted only from allowed origins", reason="origin"
                )
            return await self.session.authenticate(cookie)
        except RoomkeyError as exc:
            self._refused("session", exc)
            raise

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
        if identity.source == "app":
            return await self._confirm_app(identity, confirmed_at)
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

    async def _confirm_app(self, identity: Identity, confirmed_at: float) -> Identity | None:
        # The app is asked again (its answer may come from the cache) on the same bound as
        # a session: a logout in the app ends the socket's identity within it.
        if identity.credentials is None or self.app is None:
            return None
        if self._monotonic() - confirmed_at < self.session_recheck_seconds:
            return None
        fresh = await self.app.identify(identity.credentials)
        if fresh is None:
            raise Unauthorized(
                "the app no longer identifies the connection's user", reason="unknown_session"
            )
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
