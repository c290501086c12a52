"""The one factory of identity: a JWT authenticator when configured, a session authenticator
when enabled, both behind one resolver."""

from __future__ import annotations

from roomkey.config import Settings
from roomkey.identity.base import SessionStore
from roomkey.identity.jwt import JwtAuthenticator
from roomkey.identity.jwt_cache import CachedJwtAuthenticator
from roomkey.identity.resolver import IdentityResolver
from roomkey.identity.session import SessionAuthenticator, create_session_store


def create_identity(settings: Settings) -> tuple[IdentityResolver, SessionStore | None]:
    jwt: JwtAuthenticator | None = None
    if settings.jwt.enabled:
        cache_size = settings.performance.jwt_cache_size
        jwt = (
            CachedJwtAuthenticator(settings.jwt, cache_size)
            if cache_size
            else JwtAuthenticator(settings.jwt)
        )
    store: SessionStore | None = None
    session = None
    if settings.session.enabled:
        store = create_session_store(
            settings.session, settings.redis, settings.redis.operation_timeout_seconds
        )
        session = SessionAuthenticator(settings.session, store)
    resolver = IdentityResolver(
        jwt, session, session_recheck_seconds=settings.session.recheck_seconds
    )
    return resolver, store
