"""The first end-to-end path: connect, authorize, subscribe, receive a publish."""

from __future__ import annotations

import re

import aiohttp

from tests.support.apps import APP_KEY, make_token
from tests.support.servers import Server
from tests.support.socketio_client import ConnectClient


async def test_connect_authorize_subscribe_receive(server: Server, connect: ConnectClient) -> None:
    client = await connect(server)
    assert re.fullmatch(r"\d+\.\d+", client.socket_id)
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{server.url}/pusher/auth",
            data={"socket_id": client.socket_id, "channel_name": "private-user-7"},
            headers={"Authorization": f"Bearer {make_token('7')}"},
        )
        assert resp.status == 200, await resp.text()
        body = await resp.json()
    assert body["auth"].startswith(f"{APP_KEY}:")
    assert await client.subscribe("private-user-7", auth=body["auth"]) == {
        "channel": "private-user-7"
    }
    rt = server.runtime
    await rt.hub.publish(rt.apps.default, ["private-user-7"], "greeting", '{"hello":"world"}')
    event = await client.next("event")
    assert event == {"channel": "private-user-7", "event": "greeting", "data": '{"hello":"world"}'}
