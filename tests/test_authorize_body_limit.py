"""The authorize endpoints hold each request body to the limit of the app it names
(``app_key``), whichever app is configured first."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace
from typing import Any

import aiohttp

from roomkey.config import Limits, Settings
from tests.conftest import APP_KEY, OTHER_APP, Server, StartServer, make_settings, make_token


def limited(first: int, second: int) -> Settings:
    settings = make_settings(limits=replace(Limits(), max_authorize_body_bytes=first))
    other = replace(OTHER_APP, limits=replace(Limits(), max_authorize_body_bytes=second))
    return replace(settings, apps=(settings.apps[0], other))


async def user_auth(
    server: Server, socket_id: str, app_key: str, size: int
) -> aiohttp.ClientResponse:
    """A form-encoded ``/pusher/user-auth`` request padded to exactly ``size`` bytes."""
    fields = f"socket_id={socket_id}&app_key={app_key}&padding="
    body = fields + "x" * (size - len(fields))
    assert len(body) == size
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.url}/pusher/user-auth",
            data=body.encode(),
            headers={
                "Authorization": f"Bearer {make_token('7')}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        ) as resp,
    ):
        await resp.read()
        return resp


async def answer(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    data = await resp.json()
    assert isinstance(data, dict)
    return data


async def test_a_later_app_with_a_larger_limit_gets_its_own_limit(
    start_server: StartServer,
) -> None:
    server = await start_server(limited(first=300, second=4000))
    ok = await user_auth(server, "1.2", OTHER_APP.key, 1000)
    assert ok.status == 200
    body = await answer(ok)
    # Signed for the app the body named, as Pusher signs a user sign-in.
    signed = f"1.2::user::{body['user_data']}".encode()
    mac = hmac.new(OTHER_APP.secret.encode(), signed, hashlib.sha256).hexdigest()
    assert body["auth"] == f"{OTHER_APP.key}:{mac}"
    # The first app's own limit still applies to requests for the first app.
    small = await user_auth(server, "1.2", APP_KEY, 1000)
    assert small.status == 413
    assert "max_authorize_body_bytes (300 bytes)" in (await answer(small))["error"]["message"]
    assert (await user_auth(server, "1.2", APP_KEY, 290)).status == 200
    # Past the largest limit of any app the body is not even read.
    assert (await user_auth(server, "1.2", OTHER_APP.key, 4100)).status == 413


async def test_a_later_app_with_a_smaller_limit_is_held_to_it(start_server: StartServer) -> None:
    server = await start_server(limited(first=8192, second=300))
    assert (await user_auth(server, "1.2", OTHER_APP.key, 1000)).status == 413
    assert (await user_auth(server, "1.2", OTHER_APP.key, 290)).status == 200
    assert (await user_auth(server, "1.2", APP_KEY, 1000)).status == 200
