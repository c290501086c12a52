"""The one factory of identity: the sources a configuration enables (a JWT authenticator, a
session source of ``session.kind``, the app's identity endpoint) behind one resolver, in
``[identity] order``."""

from __future__ import annotations

from roomkey.config import Settings
from roomkey.identity.app_endpoint import AppIdentitySource
from roomkey.identity.base import SessionSource, SessionStore
from roomkey.identity.cookie_session import SealedCookieAuthenticator
from roomkey.identity.express import ExpressSessionAuthenticator
from roomkey.identity.jwt import JwtAuthenticator
from roomkey.identity.jwt_cache import CachedJwtAuthenticator
from roomkey.identity.resolver import SOURCES, IdentityResolver
from roomkey.identity.session import SessionAuthenticator, create_session_store


def create_identity(settings: Settings) -> tuple[IdentityResolver, SessionStore | None]:
    """The resolver, and the session store of kinds ``memory`` and ``aiohttp_redis`` (which
    the demo's login writes to and ``app.py`` closes); None for the other kinds."""
    jwt: JwtAuthenticator | None = None
    if settings.jwt.enabled:
        cache_size = settings.performance.jwt_cache_size
        jwt = (
            CachedJwtAuthenticator(settings.jwt, cache_size)
            if cache_size
            else JwtAuthenticator(settings.jwt)
        )
    store: SessionStore | None = None
    session: SessionSource | None = None
    s = settings.session
    timeout = settings.redis.operation_timeout_seconds
    if s.enabled:
        kind = s.resolved_kind
        if kind in ("aiohttp_encrypted", "aiohttp_nacl"):
            session = SealedCookieAuthenticator(s)
        elif kind == "express":
            session = ExpressSessionAuthenticator(s, s.redis_url or settings.redis, timeout)
        else:
            store = create_session_store(s, settings.redis, timeout)
            session = SessionAuthenticator(s, store)
    app = AppIdentitySource(settings.identity.app) if settings.identity.app.enabled else None
    resolver = IdentityResolver(
        jwt,
        session,
        app=app,
        order=settings.identity.order or SOURCES,
        session_recheck_seconds=s.recheck_seconds,
    )
    return resolver, store
