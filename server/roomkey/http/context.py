"""Shared pieces of the HTTP edges: the runtime key, the client's address and identity, error
responses, bounded body reading and form or JSON field parsing."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus

from aiohttp import web
from multidict import CIMultiDict

from roomkey.core.errors import (
    BadRequest,
    PayloadTooLarge,
    RateLimited,
    RequestTimeout,
    RoomkeyError,
)
from roomkey.core.protocol import dumps
from roomkey.identity.base import Identity
from roomkey.identity.resolver import bearer_from_header
from roomkey.runtime import Runtime

RUNTIME = web.AppKey("roomkey.runtime", Runtime)
NO_STORE = {"Cache-Control": "no-store"}


def runtime(request: web.Request) -> Runtime:
    """The runtime of the roomkey application handling ``request``: its own app when roomkey
    is the application (no ChainMap built per request), else looked up through the parents
    (roomkey mounted inside another application)."""
    rt = request.app.get(RUNTIME)
    return rt if rt is not None else request.config_dict[RUNTIME]


def client_address(rt: Runtime, request: web.Request) -> str:
    """The client's address: the peer, or ``X-Forwarded-For`` behind a trusted proxy."""
    return rt.addresses.resolve(request.remote, request.headers.get("X-Forwarded-For"))


async def request_identity(
    rt: Runtime, request: web.Request, token: str | None = None, *, header: bool = True
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


JSON_TYPE = "application/json; charset=utf-8"
_JSON_HEADERS = CIMultiDict({"Content-Type": JSON_TYPE, **NO_STORE})


def json_response(
    value: object, headers: Mapping[str, str] | None = None, *, status: int = 200
) -> web.Response:
    """``value`` as compact JSON, with ``Cache-Control: no-store`` and ``headers``."""
    return json_text_response(dumps(value), headers, status=status)


def json_text_response(
    text: str, headers: Mapping[str, str] | None = None, *, status: int = 200
) -> web.Response:
    """Already encoded JSON ``text``, as ``json_response`` answers it. Cheaper than
    ``web.json_response``: the headers are copied from a ready-made multidict."""
    h = _JSON_HEADERS.copy()
    if headers:
        h.update(headers)
    return web.Response(body=text.encode(), status=status, headers=h)


def error_response(exc: RoomkeyError, headers: Mapping[str, str] | None = None) -> web.Response:
    """``{"error": {"code", "message"}}`` with the error's HTTP status."""
    h = dict(headers or {})
    if isinstance(exc, RateLimited):
        h["Retry-After"] = str(max(1, round(exc.retry_after)))
    return json_response({"error": exc.as_dict()}, h, status=exc.status)


def buffered_body(request: web.Request, limit: int, *, peek: bool = False) -> bytes | None:
    """The body when it has all arrived already, as it usually has for a small form (taken
    without a wait; with ``peek``, looked at where aiohttp holds it: ``peek_body``); None when
    ``read_body`` must read it (not all here yet, no declared length, compressed, or over
    ``limit``: it then answers as it should)."""
    length = request.content_length
    if length is None or length > limit or "Content-Encoding" in request.headers:
        return None
    content = request.content
    if not content.is_eof():  # aiohttp marks the end once the declared length arrived
        return None
    if peek:
        held = peek_body(content, length)
        if held is not None:
            return held
    try:
        body = content.read_nowait(length) if length else b""
    except ConnectionResetError:
        body = b""
    if len(body) != length:
        raise BadRequest("request body is shorter than its Content-Length")
    return body


def peek_body(content: object, length: int) -> bytes | None:
    """The whole body of ``length`` bytes when aiohttp's stream reader holds exactly that, in
    one piece, untouched; else None.

    Why: taking data out of aiohttp's ``StreamReader`` (``read_nowait``, ``read``, ``post``)
    ends in ``resume_reading()``, which feeds the HTTP parser an empty chunk and touches the
    transport, even when nothing was paused: about a tenth of a small authorize call's cost
    (docs/benchmarks.md). The body is only looked at, never removed; aiohttp discards the
    reader after the handler as it does for any handler that does not read its body.

    This reads the reader's private ``_buffer`` (a deque of ``bytes`` chunks),
    ``_buffer_offset`` and ``_exception``. Every one is checked for the shape expected; if
    aiohttp ever changes them, the answer is None and the caller reads the body through the
    public API, as with ``peek_body = false``. tests/http/test_authorize_bodies.py pins that the
    shape holds for the aiohttp in use."""
    buffer = getattr(content, "_buffer", None)
    if (
        type(buffer) is not deque
        or len(buffer) != 1
        or getattr(content, "_buffer_offset", None) != 0
        or getattr(content, "_exception", True) is not None
    ):
        return None
    chunk = buffer[0]
    return chunk if type(chunk) is bytes and len(chunk) == length else None


async def read_body(
    request: web.Request,
    limit: int,
    *,
    peek: bool = False,
    # Not the caller's asyncio.timeout: the timer is armed only for a body still arriving.
    timeout: float | None = None,  # noqa: ASYNC109
) -> bytes:
    """The (decompressed) body, at most ``limit`` bytes; ``PayloadTooLarge`` past that. A
    body that has all arrived is taken as ``buffered_body`` takes it (``peek`` as there), with
    no timer at all: the usual small authorize or REST body costs nothing more.

    ``timeout``: seconds, from this call, for the rest of the body to arrive (the whole of it,
    not per read: a client trickling a byte at a time gets no more); past it,
    ``RequestTimeout``, and the caller answers with ``closing_response``. None: no limit."""
    held = buffered_body(request, limit, peek=peek)
    if held is not None:
        return held
    length = request.content_length
    if length is not None and length > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes")
    if length == 0:
        return b""
    if timeout is None:
        return await _receive(request, limit, length)
    try:
        async with asyncio.timeout(timeout):
            return await _receive(request, limit, length)
    except TimeoutError:
        raise RequestTimeout(
            f"request body did not arrive within server.request_body_timeout_seconds"
            f" ({timeout:g} s)"
        ) from None


async def _receive(request: web.Request, limit: int, length: int | None) -> bytes:
    """The body that ``read_body`` could not take at once: awaited, at most ``limit`` bytes."""
    if length is not None and "Content-Encoding" not in request.headers:
        # The common case: the declared length is the body (nothing to decompress). What has
        # arrived is taken without a wait (usually all of it); only a rest is awaited.
        try:
            body = request.content.read_nowait(length)
            if len(body) < length:
                body += await request.content.readexactly(length - len(body))
            return body
        except (asyncio.IncompleteReadError, ConnectionResetError):
            # The client stopped sending (or went away) before its declared length.
            raise BadRequest("request body is shorter than its Content-Length") from None
    # ``read(n)`` returns whatever has arrived (at most n bytes), not the whole body: keep
    # reading until EOF, never holding more than limit + 1 bytes.
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await request.content.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes")
    return b"".join(chunks)


async def closing_response(
    request: web.Request, response: web.StreamResponse
) -> web.StreamResponse:
    """Send ``response`` with ``Connection: close`` now, then close the connection at once.

    Why: once a handler returns before the body has all arrived, aiohttp keeps reading (and
    discarding) the rest for up to its lingering time (10 s) before closing, which is exactly
    what a client trickling its body wants. Closing here, after the answer is written, ends
    the connection when the deadline says so. A client already gone is no error."""
    response.force_close()
    try:
        await response.prepare(request)
        await response.write_eof()
    except ConnectionError:
        pass
    request.protocol.force_close()
    return response


MAX_FORM_FIELDS = 64
# What pusher-js, fetch and the SDKs send, exactly: taken as is, without parsing the header.
_PLAIN_TYPES = frozenset({"application/x-www-form-urlencoded", "application/json"})


def parse_form(text: str) -> dict[str, str]:
    """``application/x-www-form-urlencoded`` fields, as ``dict(parse_qsl(text,
    keep_blank_values=True))`` would give them (the last of a repeated name wins), with at
    most ``MAX_FORM_FIELDS`` fields; only escaped parts are unescaped (the usual authorize
    body has none)."""
    parts = text.split("&")
    if len(parts) > MAX_FORM_FIELDS:
        raise BadRequest("request body has too many fields")
    fields: dict[str, str] = {}
    for part in parts:
        if not part:
            continue
        name, _, value = part.partition("=")
        if "%" in part or "+" in part:
            name, value = unquote_plus(name), unquote_plus(value)
        fields[name] = value
    return fields


def parse_fields(request: web.Request, body: bytes) -> dict[str, Any]:
    """Form-urlencoded (what pusher-js sends) or JSON object fields."""
    ctype = request.headers.get("Content-Type", "")
    if ctype not in _PLAIN_TYPES:
        ctype = request.content_type  # parameters (charset) or odd spelling: parse it
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("request body must be UTF-8") from None
    if ctype == "application/json":
        try:
            data = json.loads(text) if text else {}
        except (ValueError, RecursionError):  # RecursionError: hostile nesting like [[[[...
            raise BadRequest("request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise BadRequest("request body must be a JSON object")
        return data
    if ctype in ("application/x-www-form-urlencoded", "application/octet-stream", ""):
        return parse_form(text)
    raise BadRequest("content type must be application/x-www-form-urlencoded or application/json")
