"""Calls to roomkey's authorize endpoint, as a browser page would make them."""

from __future__ import annotations

from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from tests.support.apps import make_token
from tests.support.servers import Server


async def post_auth(
    server: Server,
    fields: dict[str, str] | None = None,
    *,
    token: str | None = None,
    json_body: Any = None,
    headers: dict[str, str] | None = None,
    cookies: dict[str, str] | None = None,
    path: str = "/pusher/auth",
    method: str = "POST",
    data: Any = None,
) -> tuple[int, Any, CIMultiDictProxy[str]]:
    """(status, decoded JSON body, response headers). ``fields`` go form-encoded."""
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession(cookies=cookies) as http:
        async with http.request(
            method,
            f"{server.url}{path}",
            data=data if data is not None else fields,
            json=json_body,
            headers=h,
        ) as resp:
            body = await resp.json() if resp.content_type == "application/json" else None
            return resp.status, body, resp.headers


async def authorized(
    server: Server, socket_id: str, channel: str, user_id: str = "7", **claims: Any
) -> dict[str, str]:
    """The authorize endpoint's answer for ``user_id``; fails the test on any error."""
    status, body, _ = await post_auth(
        server,
        {"socket_id": socket_id, "channel_name": channel},
        token=make_token(user_id, **claims),
    )
    assert status == 200, body
    return dict(body)
