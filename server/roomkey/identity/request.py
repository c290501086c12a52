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

    @property
    def session_cookie_name(self) -> str | None: ...


def client_address(rt: RequestContext, request: web.Request) -> str:
    """The client's address: the peer, or ``X-Forwarded-For`` behind a trusted proxy."""
    return rt.addresses.resolve(request.remote, request.headers.get("X-Forwarded-For"))


async def request_identity(
    rt: RequestContext, request: web.Request, token: str | None = None, *, header: bool = True
) -> Identity | None:
    """Who sent the request: a bearer token (``token``, else with ``header`` the request's
    ``Authorization: Bearer`` header), else its session cookie (only from allowed origins);
    None when it carries neither. Raises ``Unauthorized`` or ``Forbidden`` for credentials
    that do not hold. A token is checked synchronously (and cached): the Cookie header is not
    even parsed then."""
    if token is None and header:
        token = bearer_from_header(request.headers.get("Authorization"))
    if token is not None:
        return rt.identity.from_bearer(token)
    name = rt.session_cookie_name
    cookie = request.cookies.get(name) if name is not None else None
    if not cookie:
        return None
    allowed = rt.origins.allows_credentials(request.headers.get("Origin"), request.host)
    return await rt.identity.from_cookie(cookie, allowed)
