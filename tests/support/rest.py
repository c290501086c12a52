"""Helpers for the REST, client-event and webhook tests: the official Python ``pusher`` SDK
pointed at a running roomkey, subscriptions signed by that SDK, and hand-signed raw requests
for the hostile cases (signed here with hashlib/hmac, independently of roomkey's own code)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import pusher

from tests.support.apps import APP_ID, APP_KEY, APP_SECRET
from tests.support.servers import Server
from tests.support.socketio_client import SioClient


def sdk(
    server: Server,
    app_id: str = APP_ID,
    key: str = APP_KEY,
    secret: str = APP_SECRET,
    *,
    encryption_master_key: bytes | None = None,
) -> Any:
    """The official SDK pointed at ``server`` (with the master key of encrypted channels,
    when given)."""
    master: dict[str, str] = {}
    if encryption_master_key is not None:
        master["encryption_master_key_base64"] = base64.b64encode(encryption_master_key).decode()
    return pusher.Pusher(
        app_id=app_id,
        key=key,
        secret=secret,
        host="127.0.0.1",
        port=server.port,
        ssl=False,
        **master,
    )


async def call_sdk(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """The SDK is blocking (requests); roomkey runs on this loop, so call it in a thread."""
    return await asyncio.to_thread(fn, *args, **kwargs)


async def join(
    client: SioClient,
    server: Server,
    channel: str,
    user_id: str | None = None,
    user_info: dict[str, Any] | None = None,
) -> Any:
    """Subscribe with an ``auth`` the Python SDK signed (presence: with ``user_id``)."""
    custom = None
    if user_id is not None:
        custom = {"user_id": user_id, "user_info": user_info or {}}
    signed = sdk(server).authenticate(channel, client.socket_id, custom)
    ack = await client.subscribe(channel, **signed)
    assert ack.get("channel") == channel, ack
    return ack


@dataclass
class Answer:
    status: int
    body: Any


def sign(
    method: str,
    path: str,
    body: bytes = b"",
    *,
    key: str = APP_KEY,
    secret: str = APP_SECRET,
    timestamp: int | None = None,
    params: dict[str, str] | None = None,
    with_md5: bool = True,
) -> dict[str, str]:
    """Query parameters of a request signed as Pusher's SDKs sign it."""
    query = {
        "auth_key": key,
        "auth_timestamp": str(int(time.time()) if timestamp is None else timestamp),
        "auth_version": "1.0",
        **(params or {}),
    }
    if with_md5 and (body or method == "GET"):
        query["body_md5"] = hashlib.md5(body).hexdigest()
    string = "\n".join([method, path, "&".join(f"{k}={v}" for k, v in sorted(query.items()))])
    query["auth_signature"] = hmac.new(secret.encode(), string.encode(), hashlib.sha256).hexdigest()
    return query


async def raw(
    server: Server,
    method: str,
    path: str,
    query: dict[str, str],
    body: bytes = b"",
    content_type: str = "application/json",
) -> Answer:
    """Send exactly ``body`` with ``query`` (values URL-escaped on the wire)."""
    qs = "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
    headers = {"Content-Type": content_type} if body else {}
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method, f"{server.url}{path}?{qs}", data=body or None, headers=headers
        ) as resp,
    ):
        text = await resp.text()
        try:
            parsed: Any = json.loads(text)
        except ValueError:
            parsed = text
        return Answer(resp.status, parsed)


async def signed_post(server: Server, path: str, payload: Any, **sign_kw: Any) -> Answer:
    body = json.dumps(payload).encode()
    return await raw(server, "POST", path, sign("POST", path, body, **sign_kw), body)


async def signed_get(server: Server, path: str, params: dict[str, str] | None = None) -> Answer:
    return await raw(server, "GET", path, sign("GET", path, params=params))
