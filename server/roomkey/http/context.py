"""Shared pieces of the HTTP edges: the runtime key, the client's address and identity, error
responses, bounded body reading and form or JSON field parsing."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from roomkey.errors import BadRequest, PayloadTooLarge, RateLimited, RoomkeyError
from roomkey.identity.base import Identity
from roomkey.identity.resolver import bearer_from_header
from roomkey.runtime import Runtime

RUNTIME = web.AppKey("roomkey.runtime", Runtime)
NO_STORE = {"Cache-Control": "no-store"}


def runtime(request: web.Request) -> Runtime:
    return request.config_dict[RUNTIME]


def client_address(rt: Runtime, request: web.Request) -> str:
    """The client's address: the peer, or ``X-Forwarded-For`` behind a trusted proxy."""
    return rt.addresses.resolve(request.remote, request.headers.get("X-Forwarded-For"))


async def request_identity(rt: Runtime, request: web.Request) -> Identity | None:
    """Who sent the request: its ``Authorization: Bearer`` token, else its session cookie
    (only from allowed origins); None when it carries neither. Raises ``Unauthorized`` or
    ``Forbidden`` for credentials that do not hold."""
    return await rt.identify(
        bearer=bearer_from_header(request.headers.get("Authorization")),
        cookie=rt.session_cookie(request.cookies),
        origin=request.headers.get("Origin"),
        host=request.host,
    )


def error_response(exc: RoomkeyError, headers: Mapping[str, str] | None = None) -> web.Response:
    """``{"error": {"code", "message"}}`` with the error's HTTP status."""
    h = dict(NO_STORE)
    h.update(headers or {})
    if isinstance(exc, RateLimited):
        h["Retry-After"] = str(max(1, round(exc.retry_after)))
    return web.json_response({"error": exc.as_dict()}, status=exc.status, headers=h)


async def read_body(request: web.Request, limit: int) -> bytes:
    """The (decompressed) body, at most ``limit`` bytes; ``PayloadTooLarge`` past that."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes")
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


def parse_fields(request: web.Request, body: bytes) -> dict[str, Any]:
    """Form-urlencoded (what pusher-js sends) or JSON object fields."""
    ctype = request.content_type
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
        try:
            return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=64))
        except ValueError:
            raise BadRequest("request body has too many fields") from None
    raise BadRequest("content type must be application/x-www-form-urlencoded or application/json")
