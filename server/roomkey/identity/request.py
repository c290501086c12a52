"""Who sent an HTTP request, and from where.

Every edge asks the same two questions of the request in hand: the HTTP edges of each
request, both transports of the handshake that opens a socket (an HTTP request too). So the
answers live here, beside the identity backends, and not in ``http/``: a transport imports
nothing from the HTTP edges.
"""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from roomkey.identity.base import Identity
from roomkey.identity.origins import OriginPolicy
from roomkey.identity.proxies import ClientAddresses
from roomkey.identity.resolver import IdentityResolver, bearer_from_header


class RequestContext(Protocol):
    """What identifying a request needs of the runtime (``roomkey.runtime.Runtime`` is one)."""

    @property
    def addresses(self) -> ClientAddresses: ...

    @property
    def identity(self) -> IdentityResolver: ...

    @property
    def origins(self) -> OriginPolicy: ...


def client_address(rt: RequestContext, request: web.Request) -> str:
    """The client's address: the peer, or ``X-Forwarded-For`` behind a trusted proxy."""
    return rt.addresses.resolve(request.remote, request.headers.get("X-Forwarded-For"))


async def request_identity(
    rt: RequestContext, request: web.Request, token: str | None = None, *, header: bool = True
) -> Identity | None:
    """Who sent the request, by the resolver's sources in order (``IdentityResolver.identify``):
    a bearer token (``token``, else with ``header`` the request's ``Authorization: Bearer``
    header), the session cookie, the app asked with the Cookie and Authorization headers
    (cookies only from allowed origins). None when it carries no credential a source takes.
    Raises ``Unauthorized``, ``Forbidden`` or ``ServiceUnavailable`` for credentials that do
    not hold. When tokens are the first source a token is checked synchronously (and
    cached): the Cookie header is not even parsed then. A handshake's ``token`` reaches the
    app as ``Authorization: Bearer`` when no token source takes it."""
    resolver = rt.identity
    authorization = request.headers.get("Authorization") if header else None
    if token is None and authorization is not None:
        token = bearer_from_header(authorization)
    if token is not None and resolver.bearer_first:
        return resolver.from_bearer(token)
    if authorization is None and token is not None:
        authorization = f"Bearer {token}"
    cookie_header = request.headers.get("Cookie")
    if not cookie_header and authorization is None:
        return None
    allowed = (
        rt.origins.allows_credentials(request.headers.get("Origin"), request.host)
        if cookie_header
        else True
    )
    return await resolver.identify(
        bearer=token,
        cookies=request.cookies if cookie_header else {},
        cookie_header=cookie_header,
        authorization=authorization,
        cookie_allowed=allowed,
    )
