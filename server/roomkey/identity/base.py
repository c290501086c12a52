"""The identity value, the session store and session source contracts, and how a user id is read from a claim or a
session value (``scalar_user_id``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Identity:
    """A verified user. ``user_info`` goes into presence ``channel_data``; ``claims`` are what
    channel rules can require and use as placeholders (strings compare as strings)."""

    user_id: str
    user_info: Mapping[str, Any] = field(default_factory=dict)
    claims: Mapping[str, Any] = field(default_factory=dict)
    source: str = "jwt"  # "jwt", "session" or "app"
    # When the credential stops proving this identity: a token's ``exp`` plus the configured
    # leeway, in Unix seconds (None: a session, which is read again instead; see
    # ``IdentityResolver.confirm``). Not part of equality.
    expires_at: float | None = field(default=None, compare=False)
    # The session id a cookie named (a secret: never in a repr or a log line).
    session_id: str | None = field(default=None, compare=False, repr=False)
    # Values derived from this identity and computed once (presence ``channel_data`` and
    # sign-in ``user_data`` per app): the JWT cache serves one identity to many requests.
    # Not part of equality or repr.
    memo: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    # The headers the app was asked with (source "app"), to ask again when a socket relies
    # on this identity (a secret: never in a repr or a log line).
    credentials: Mapping[str, str] | None = field(default=None, compare=False, repr=False)

    def expired(self, now: float) -> bool:
        """Whether the token behind this identity has expired at ``now`` (Unix seconds): the
        rule PyJWT applies at verification, so a token is never good longer here."""
        return self.expires_at is not None and now >= self.expires_at

    def value(self, name: str) -> str | None:
        """A placeholder value: ``user_id`` or a scalar claim, as a string; None if absent."""
        if name == "user_id":
            return self.user_id
        raw = self.claims.get(name)
        if isinstance(raw, bool):
            return str(raw).lower()
        if isinstance(raw, str | int | float):
            return str(raw)
        return None


class SessionStore(Protocol):
    """Sessions in aiohttp-session's format: ``{"created": unix_seconds, "session": {...}}``
    under the session id that the cookie carries."""

    async def load(self, session_id: str) -> Mapping[str, Any] | None:
        """The stored record (``created`` and ``session``), or None if unknown."""

    async def save(self, session: Mapping[str, Any], max_age: int | None = None) -> str:
        """Store a new session and return its id (the cookie value)."""

    async def delete(self, session_id: str) -> None: ...

    async def close(self) -> None: ...


class SessionSource(Protocol):
    """Identity from one kind of session cookie (``session.kind``): the cookie's value in,
    the identity out. ``authenticate`` raises ``Unauthorized`` (reasons ``invalid_session``,
    ``unknown_session``, ``expired_session``) for a cookie that does not hold and
    ``ServiceUnavailable`` when its store cannot be read; the identity's ``session_id`` is
    what ``authenticate`` takes again to re-read the session."""

    cookie_name: str

    async def authenticate(self, cookie: str) -> Identity: ...

    async def close(self) -> None: ...


def scalar_user_id(value: object) -> str | None:
    """A user id from a claim or session value: a non-empty string, or an integer as text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value:
        return value
    return None
