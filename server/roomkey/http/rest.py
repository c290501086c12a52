"""Pusher's HTTP API (``/apps/{id}/...``): check the signed query, read the body (within
``server.request_body_timeout_seconds``), hold it to ``body_md5``, call ``rest_api``, answer
JSON. A request that is not signed with an app's secret, or is over its app's rate, is
refused before a byte of its body is read.

Statuses as Pusher: 200 with the answer, 400 bad input (including malformed JSON and a POST
that is not ``application/json``), 401 any signature problem, 405 wrong method, 413 data or
body too large, 503 the broker cannot take a publish (nothing is ever dropped with a 200);
and roomkey's own 408, the body did not arrive in time (the connection is then closed).
Errors are ``{"error": {"code", "message"}}``. Once the signature names the app, each request
counts against ``rate_limits.rest_per_second_per_app`` (429 with ``Retry-After``): unsigned
requests cannot spend an app's budget. Every answer, errors included, is counted in
``roomkey_rest_requests_total`` by route template and status.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from roomkey.config import AppSettings
from roomkey.core.errors import BadRequest, MethodNotAllowed, RequestTimeout, RoomkeyError
from roomkey.core.signing import verify_rest_body, verify_rest_query
from roomkey.http.context import closing_response, read_body, runtime
from roomkey.hub import publishing
from roomkey.identity.request import client_address
from roomkey.refusals import error_response
from roomkey.runtime import Runtime

# Room for JSON escaping (up to 6 bytes per character) and 100 channel names per event.
_ESCAPE_FACTOR = 6
_ENVELOPE_BYTES = 32 * 1024
_UNLIMITED_BATCH = 100

Action = Callable[[Runtime, AppSettings, web.Request, bytes], Awaitable[dict[str, Any]]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def body_limit(app: AppSettings) -> int:
    """The largest REST body ``app`` may need: a full batch of full events, escaped (an
    unlimited batch, ``max_batch_events = 0``, is read as up to ``_UNLIMITED_BATCH`` events)."""
    limits = app.limits
    return (limits.max_batch_events or _UNLIMITED_BATCH) * (
        limits.max_event_data_bytes * _ESCAPE_FACTOR + _ENVELOPE_BYTES
    )


def json_body(request: web.Request, body: bytes) -> object:
    if request.content_type != "application/json":
        raise BadRequest("content type must be application/json")
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: [[[[... nesting
        raise BadRequest("request body is not valid JSON") from None


def _handler(route: str, method: str, action: Action, *, app_in_path: bool = True) -> Handler:
    """The handler of one route (``route`` is its template, the metrics label)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        rt = runtime(request)
        try:
            response = await answer(rt, request)
        except Exception:
            rt.metrics.observe_rest(route, 500)
            raise
        rt.metrics.observe_rest(route, response.status)
        return response

    async def answer(rt: Runtime, request: web.Request) -> web.StreamResponse:
        app: AppSettings | None = None
        try:
            if request.method != method:
                raise MethodNotAllowed(f"use {method}")
            # Everything the query can tell (the signature included) before any body is read.
            url = request.rel_url
            paths = [url.raw_path] if url.raw_path == url.path else [url.raw_path, url.path]
            signed = verify_rest_query(
                rt.apps,
                method=request.method,
                paths=paths,
                query=list(url.query.items()),
                now=time.time(),
                app_id=request.match_info["app_id"] if app_in_path else None,
                body_length=request.content_length,
            )
            app = signed.app
            await rt.throttle.rest(app)
            body = await read_body(
                request,
                body_limit(app),
                peek=rt.settings.performance.peek_body,
                timeout=rt.settings.server.request_body_timeout_seconds,
            )
            verify_rest_body(signed, body)
            result = await action(rt, app, request, body)
        except RoomkeyError as exc:
            rt.log_refusal(
                "rest",
                exc,
                address=client_address(rt, request),
                app_id=app.id if app is not None else None,
            )
            headers = {"Allow": method} if isinstance(exc, MethodNotAllowed) else None
            if isinstance(exc, RequestTimeout):
                return await closing_response(request, error_response(exc, headers))
            return error_response(exc, headers)
        return web.json_response(result)

    return handle


async def _events(
    rt: Runtime, app: AppSettings, request: web.Request, body: bytes
) -> dict[str, Any]:
    return await publishing.trigger(rt.hub, app, json_body(request, body))


async def _batch(
    rt: Runtime, app: AppSettings, request: web.Request, body: bytes
) -> dict[str, Any]:
    return await publishing.trigger_batch(rt.hub, app, json_body(request, body))


async def _channels(
    rt: Runtime, app: AppSettings, request: web.Request, body: bytes
) -> dict[str, Any]:
    query = request.rel_url.query
    return await publishing.channels(
        rt.hub, app, query.get("filter_by_prefix", ""), query.get("info")
    )


async def _channel(
    rt: Runtime, app: AppSettings, request: web.Request, body: bytes
) -> dict[str, Any]:
    return await publishing.channel(
        rt.hub, app, request.match_info["channel_name"], request.rel_url.query.get("info")
    )


async def _users(
    rt: Runtime, app: AppSettings, request: web.Request, body: bytes
) -> dict[str, Any]:
    return await publishing.users(rt.hub, app, request.match_info["channel_name"])


async def _terminate(
    rt: Runtime, app: AppSettings, request: web.Request, body: bytes
) -> dict[str, Any]:
    return await publishing.terminate_connections(rt.hub, app, request.match_info["user_id"])


def add_routes(app: web.Application, prefix: str = "") -> None:
    """The REST API under ``prefix``; a request's signature covers the path as requested
    (prefix included), as every Pusher SDK signs the path it calls."""
    routes: list[tuple[str, str, Action, bool]] = [
        ("/apps/{app_id}/events", "POST", _events, True),
        ("/apps/{app_id}/batch_events", "POST", _batch, True),
        ("/apps/{app_id}/channels", "GET", _channels, True),
        ("/apps/{app_id}/channels/{channel_name}", "GET", _channel, True),
        ("/apps/{app_id}/channels/{channel_name}/users", "GET", _users, True),
        ("/apps/{app_id}/users/{user_id}/terminate_connections", "POST", _terminate, True),
        # The Python SDK posts this one without the /apps/{id} prefix; auth_key names the app.
        ("/users/{user_id}/terminate_connections", "POST", _terminate, False),
    ]
    for path, method, action, app_in_path in routes:
        app.router.add_route(
            "*", prefix + path, _handler(path, method, action, app_in_path=app_in_path)
        )
