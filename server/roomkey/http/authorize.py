"""``POST /pusher/auth`` and ``POST /pusher/user-auth``: parse, identify, call the core, format.

Fields (form-urlencoded or JSON): ``socket_id``, ``channel_name`` (channel auth only), and
optionally ``app_key`` to pick an app other than the first configured one. The user comes from
``Authorization: Bearer <jwt>`` or the session cookie (cookies only from allowed origins).
Answers carry ``Cache-Control: no-store``; CORS is answered only for configured origins.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from roomkey.config import AppSettings
from roomkey.core.channels import validate_channel_name, validate_socket_id
from roomkey.core.errors import (
    Forbidden,
    MethodNotAllowed,
    PayloadTooLarge,
    RequestTimeout,
    RoomkeyError,
    Unauthorized,
)
from roomkey.core.policy import SyncPolicy
from roomkey.core.protocol import dumps_strings
from roomkey.http.context import (
    buffered_body,
    closing_response,
    json_text_response,
    parse_fields,
    read_body,
    runtime,
)
from roomkey.hub.authorization import (
    authorize_channel,
    authorize_channel_async,
    authorize_user,
)
from roomkey.identity.base import Identity
from roomkey.identity.request import client_address, request_identity
from roomkey.identity.resolver import bearer_from_header
from roomkey.refusals import error_response
from roomkey.runtime import Runtime


def cors_headers(rt: Runtime, request: web.Request) -> dict[str, str]:
    origin = request.headers.get("Origin")
    mode = rt.origins.cors_credentials(origin)
    if mode is None or origin is None:
        return {"Vary": "Origin"}
    headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    if mode:
        headers["Access-Control-Allow-Credentials"] = "true"
    return headers


def preflight(rt: Runtime, request: web.Request) -> web.Response:
    headers = cors_headers(rt, request)
    if "Access-Control-Allow-Origin" in headers:
        headers.update(
            {
                "Access-Control-Allow-Methods": "POST, OPTIONS",
                # What pusher-js and Laravel Echo send with channelAuthorization headers.
                "Access-Control-Allow-Headers": (
                    "Authorization, Content-Type, X-Requested-With, X-CSRF-Token, "
                    "X-XSRF-Token, X-Socket-ID"
                ),
                "Access-Control-Max-Age": "600",
            }
        )
    return web.Response(status=204, headers=headers)


def _app_of(rt: Runtime, fields: dict[str, Any]) -> AppSettings:
    # Through by_key even for the default, so that a disabled app never signs.
    key = fields.get("app_key")
    return rt.apps.by_key(rt.apps.default.key if key is None else key)


def _log_ids(rt: Runtime, fields: dict[str, Any]) -> tuple[str, str | None]:
    """App id and socket id of a refused request, for its log line (escaped there)."""
    key = fields.get("app_key")
    app = rt.apps.default
    if key is not None:
        app = next((a for a in rt.apps if a.key == key), app)
    socket_id = fields.get("socket_id")
    return app.id, socket_id if isinstance(socket_id, str) else None


async def _answer(request: web.Request, kind: str, action: str) -> web.StreamResponse:
    """One authorize request, start to end: preflight, or identify and sign (``kind``
    "channel": a channel signature, "user": a sign-in); a refusal is logged as ``action`` and
    counted under ``kind`` with its reason, as is every success.

    Origin, rate per address, body, identity, rate per user: in that order, so a refused
    request costs as little as possible. The body names the app (``app_key``), so it is read
    up to the largest ``max_authorize_body_bytes`` of any app, then held to the chosen app's
    own limit. A body still arriving must all arrive within
    ``server.request_body_timeout_seconds`` (408, and the connection is closed); one that has
    arrived is taken without a timer. Written flat, awaiting only what may wait (a body still
    arriving, a session lookup, a Redis rate limit, an async policy): this endpoint is on
    every page load's critical path, and each coroutine layer costs measurably here
    (docs/benchmarks.md)."""
    rt = runtime(request)
    method = request.method
    if method == "OPTIONS":
        return preflight(rt, request)
    cors = cors_headers(rt, request)
    fields: dict[str, Any] = {}
    try:
        if method != "POST":
            raise MethodNotAllowed("use POST")
        headers = request.headers
        origin = headers.get("Origin")
        if origin is not None and not rt.origins.allows(origin, request.host):
            raise Forbidden("origin is not allowed", reason="origin")
        throttle = rt.throttle
        if throttle.rates.authorize_per_minute_per_address:  # no address work when off
            await throttle.authorize_address(rt.apps.default, client_address(rt, request))
        most = rt.apps.max_authorize_body_bytes
        body = buffered_body(request, most, peek=rt.settings.performance.peek_body)
        if body is None:  # still arriving (or unusual): awaited, within the deadline
            body = await read_body(
                request, most, timeout=rt.settings.server.request_body_timeout_seconds
            )
        fields = parse_fields(request, body)
        app = _app_of(rt, fields)
        limit = app.limits.max_authorize_body_bytes
        if len(body) > limit:
            raise PayloadTooLarge(
                f"request body is larger than limits.max_authorize_body_bytes ({limit} bytes)"
            )
        bearer = bearer_from_header(headers.get("Authorization"))
        if bearer is not None and rt.identity.bearer_first:
            identity: Identity | None = rt.identity.from_bearer(bearer)
        else:
            identity = await request_identity(rt, request)
        if identity is None:
            raise Unauthorized(
                "no identity: send Authorization: Bearer <token> or log in", reason="no_identity"
            )
        if throttle.rates.authorize_per_minute_per_user:
            await throttle.authorize_user(app, identity.user_id)
        socket_id = validate_socket_id(fields.get("socket_id"))
        if kind == "user":
            answer = authorize_user(app, identity, socket_id)
        else:
            channel = validate_channel_name(fields.get("channel_name"), "channel_name")
            policy = rt.policy
            if isinstance(policy, SyncPolicy):  # decided at once (the rules): nothing to await
                answer = authorize_channel(app, policy, identity, socket_id, channel)
            else:
                answer = await authorize_channel_async(app, policy, identity, socket_id, channel)
    except RoomkeyError as exc:
        log_app, log_socket = _log_ids(rt, fields)
        rt.log_refusal(
            action,
            exc,
            address=client_address(rt, request),
            app_id=log_app,
            socket_id=log_socket,
        )
        rt.metrics.count(rt.metrics.authorize_results, kind, exc.reason)
        if isinstance(exc, MethodNotAllowed):
            cors["Allow"] = "POST, OPTIONS"
        if isinstance(exc, RequestTimeout):
            return await closing_response(request, error_response(exc, cors))
        return error_response(exc, cors)
    rt.metrics.count(rt.metrics.authorize_results, kind, "ok")
    return json_text_response(dumps_strings(answer), cors)


async def handle_channel_auth(request: web.Request) -> web.StreamResponse:
    return await _answer(request, "channel", "authorize")


async def handle_user_auth(request: web.Request) -> web.StreamResponse:
    return await _answer(request, "user", "user auth")


def add_routes(app: web.Application, auth_path: str, user_auth_path: str) -> None:
    app.router.add_route("*", auth_path, handle_channel_auth)
    app.router.add_route("*", user_auth_path, handle_user_auth)
