"""The development demo (``server.mode = "development"`` only): one page at two URLs and the
endpoints it calls.

- ``GET /`` and ``GET /jwt`` serve ``web/demo/index.html``, which runs ``web/demo/demo.js`` on
  top of ``/roomkey.js``; at ``/`` it logs in with a session cookie, at ``/jwt`` with a bearer
  token.
- ``POST /demo/login`` ``{"name"}``: a new user id, a session in the runtime's session store
  (aiohttp-session's format, the cookie roomkey reads), the cookie set; only with the
  in-process memory store. ``POST /demo/logout`` ends it; ``GET /demo/me`` says who the
  cookie belongs to.
- ``POST /demo/token`` ``{"name"}``: a short-lived HS256 JWT signed with the development
  preset's public JWT secret, and only when ``jwt.secret`` is that secret.
- ``POST /demo/chat`` ``{"channel", "text"}``: publishes ``chat-message`` stamped with the
  sender's verified identity (never a name the client sends), on channels the sender may join.
- ``POST /demo/wave`` ``{"to"}``: publishes ``wave`` on ``private-user-{to}``, which only that
  user can join.

Every POST comes from an allowed origin (same origin by default) and has a small JSON or form
body; a page on another allowed origin may read the answer (CORS headers as the authorize
endpoint's: the README's first-channel snippet gets its token from ``/demo/token`` so). Nothing here is mounted in production mode. Development mode may run with a copy of a
real configuration, so the demo never creates a credential that a real deployment would
accept: no token signed with a secret of one's own, no session in a shared (Redis) store;
those requests are refused with 403.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from aiohttp.typedefs import Handler

from roomkey.config import DEV_JWT_SECRET
from roomkey.core.channels import validate_channel_name
from roomkey.core.errors import BadRequest, Forbidden, RoomkeyError, Unauthorized
from roomkey.core.policy import allowed
from roomkey.core.protocol import dumps
from roomkey.handle import Roomkey
from roomkey.http.authorize import cors_headers
from roomkey.http.context import parse_fields, read_body, runtime
from roomkey.http.static import file_response
from roomkey.identity.base import Identity
from roomkey.identity.request import request_identity
from roomkey.refusals import NO_STORE, error_response
from roomkey.runtime import Runtime

MAX_BODY_BYTES = 4096
MAX_NAME_CHARS = 32
MAX_TEXT_CHARS = 500
TOKEN_TTL_SECONDS = 15 * 60
CHAT_PREFIXES = ("presence-", "private-chat-")
# One page for both logins: demo.js picks the cookie or the JWT login from the path.
PAGES = {"/": "index.html", "/jwt": "index.html"}
ASSETS = {"demo.js": "text/javascript; charset=utf-8", "demo.css": "text/css; charset=utf-8"}

Action = Callable[[web.Request, Runtime, dict[str, Any]], Awaitable[web.StreamResponse]]


def add_routes(app: web.Application, web_root: Path) -> None:
    """Mount the demo pages (from ``web_root/demo``) and endpoints."""
    demo_dir = web_root / "demo"
    for url, name in PAGES.items():
        app.router.add_get(url, _page(demo_dir / name, "text/html; charset=utf-8"))
    for name, content_type in ASSETS.items():
        app.router.add_get(f"/demo/{name}", _page(demo_dir / name, content_type))
    app.router.add_get("/demo/config", _config)
    app.router.add_get("/demo/me", _me)
    app.router.add_post("/demo/login", _post(_login))
    app.router.add_post("/demo/logout", _post(_logout))
    app.router.add_post("/demo/token", _post(_token))
    app.router.add_post("/demo/chat", _post(_chat))
    app.router.add_post("/demo/wave", _post(_wave))


def _page(path: Path, content_type: str) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        return file_response(path, content_type)

    return handle


def _post(action: Action) -> Handler:
    """Origin check, bounded body, errors as ``{"error": {"code", "message"}}``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        rt = runtime(request)
        try:
            if not rt.origins.allows(request.headers.get("Origin"), request.host):
                raise Forbidden("origin is not allowed", reason="origin")
            fields = parse_fields(request, await read_body(request, MAX_BODY_BYTES))
            response = await action(request, rt, fields)
        except RoomkeyError as exc:
            rt.log_refusal("demo request", exc, address=request.remote or "")
            response = error_response(exc)
        response.headers.update(cors_headers(rt, request))
        return response

    return handle


async def _config(request: web.Request) -> web.Response:
    rt = runtime(request)
    return web.json_response(
        {"key": rt.apps.default.key, "auth_endpoint": rt.settings.server.auth_path},
        headers=NO_STORE,
    )


def _name(fields: dict[str, Any]) -> str:
    name = fields.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("name is required")
    name = name.strip()
    if len(name) > MAX_NAME_CHARS or not name.isprintable():
        raise BadRequest(f"name must be at most {MAX_NAME_CHARS} printable characters")
    return name


def _new_user_id() -> str:
    # Random, so two people who pick the same name are still two users.
    return "u" + secrets.token_hex(4)


async def _identity(request: web.Request, rt: Runtime) -> Identity:
    identity = await request_identity(rt, request)
    if identity is None:
        raise Unauthorized("log in first", reason="no_identity")
    return identity


def _who(identity: Identity) -> dict[str, Any]:
    return {"user_id": identity.user_id, "name": identity.user_info.get("name", "")}


async def _me(request: web.Request) -> web.StreamResponse:
    rt = runtime(request)
    try:
        identity = await _identity(request, rt)
    except RoomkeyError as exc:
        return error_response(exc)
    return web.json_response(_who(identity), headers=NO_STORE)


async def _login(request: web.Request, rt: Runtime, fields: dict[str, Any]) -> web.StreamResponse:
    s = rt.settings.session
    if not s.enabled:
        raise BadRequest("sessions are disabled (session.enabled = false)")
    if s.resolved_kind != "memory" or rt.sessions is None:
        # Any other kind is shared with the application that logs users in for real: a
        # demo session there would be a login that application accepts.
        raise Forbidden(
            'the cookie demo is off: it logs in only with session kind "memory" '
            '(session.store = "memory")',
            reason="demo_off",
        )
    name = _name(fields)
    user_id = _new_user_id()
    response = web.json_response({"user_id": user_id, "name": name}, headers=NO_STORE)
    # The same one call an embedding application makes (docs/embedding.md).
    await Roomkey.of(request).login(response, user_id, {"name": name}, secure=request.secure)
    return response


async def _logout(request: web.Request, rt: Runtime, fields: dict[str, Any]) -> web.StreamResponse:
    response = web.json_response({}, headers=NO_STORE)
    if rt.sessions is None:
        response.del_cookie(rt.settings.session.cookie_name, path="/")
        return response
    await Roomkey.of(request).logout(request, response)
    return response


async def _token(request: web.Request, rt: Runtime, fields: dict[str, Any]) -> web.StreamResponse:
    settings = rt.settings.jwt
    # Signed with the preset's public secret only: with a secret of one's own (a copy of a
    # real configuration run in development mode) the demo would mint tokens that the real
    # deployment accepts.
    if settings.secret != DEV_JWT_SECRET or "HS256" not in settings.algorithms:
        raise Forbidden(
            "the JWT demo is off: it signs only with the development preset's JWT secret, "
            "and this configuration's jwt.secret is another (or HS256 is not allowed)",
            reason="demo_off",
        )
    name = _name(fields)
    user_id = _new_user_id()
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user_id, "name": name, "iat": now}
    claims["exp"] = now + TOKEN_TTL_SECONDS
    if settings.audience:
        claims["aud"] = settings.audience
    if settings.issuer:
        claims["iss"] = settings.issuer
    if settings.user_id_claim != "sub":
        claims[settings.user_id_claim] = user_id
    token = jwt.encode(claims, DEV_JWT_SECRET, algorithm="HS256")
    body = {"token": token, "user_id": user_id, "name": name, "expires_in": TOKEN_TTL_SECONDS}
    return web.json_response(body, headers=NO_STORE)


async def _chat(request: web.Request, rt: Runtime, fields: dict[str, Any]) -> web.StreamResponse:
    identity = await _identity(request, rt)
    channel = validate_channel_name(fields.get("channel"))
    if not channel.startswith(CHAT_PREFIXES):
        raise BadRequest("chat goes to presence- or private-chat- channels")
    text = fields.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT_CHARS:
        raise BadRequest(f"text must be 1 to {MAX_TEXT_CHARS} characters")
    app = rt.apps.default
    if not await allowed(rt.policy, app, identity, channel):
        raise Forbidden(f"not allowed to post to {channel}")
    message = {**_who(identity), "text": text.strip(), "sent_at": int(time.time() * 1000)}
    await rt.hub.publish(app, [channel], "chat-message", dumps(message))
    return web.json_response({"message": message}, headers=NO_STORE)


async def _wave(request: web.Request, rt: Runtime, fields: dict[str, Any]) -> web.StreamResponse:
    identity = await _identity(request, rt)
    to = fields.get("to")
    if not isinstance(to, str) or not to:
        raise BadRequest("to must be a user id")
    channel = validate_channel_name(f"private-user-{to}", "to")
    await rt.hub.publish(rt.apps.default, [channel], "wave", dumps(_who(identity)))
    return web.json_response({"channel": channel}, headers=NO_STORE)
