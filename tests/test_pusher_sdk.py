"""The official Python ``pusher`` SDK publishing to pusher-js through roomkey.

These go through roomkey's REST API (``POST /apps/{id}/events``,
``/users/{id}/terminate_connections``), which is built on its own branch: they pass once it is
merged.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pusher

from tests.conftest import APP_ID, APP_KEY, APP_SECRET, Server

MASTER_KEY = bytes(range(32))  # make_settings' encryption_master_key


def sdk(server: Server) -> pusher.Pusher:
    return pusher.Pusher(
        app_id=APP_ID,
        key=APP_KEY,
        secret=APP_SECRET,
        host="127.0.0.1",
        port=server.port,
        ssl=False,
        encryption_master_key_base64=base64.b64encode(MASTER_KEY).decode(),
    )


async def test_sdk_publish_reaches_pusher_js_plain_and_encrypted(
    server: Server, node_pusher: Any
) -> None:
    client = await node_pusher(server, user_id="42")
    await client.connected()
    for channel in ("private-user-42", "private-encrypted-user-42"):
        await client.send("subscribe", channel=channel)
        await client.event(channel, "pusher:subscription_succeeded")
    api = sdk(server)
    await asyncio.to_thread(api.trigger, ["private-user-42"], "greeting", {"hello": "sdk"})
    got = await client.event("private-user-42", "greeting")
    assert got["data"] == {"hello": "sdk"}
    await asyncio.to_thread(
        api.trigger, ["private-encrypted-user-42"], "sealed", {"secret": "from the sdk"}
    )
    opened = await client.event("private-encrypted-user-42", "sealed")
    assert opened["data"] == {"secret": "from the sdk"}


async def test_sdk_terminate_user_connections_closes_pusher_js(
    server: Server, node_pusher: Any
) -> None:
    client = await node_pusher(server, user_id="bye")
    await client.connected()
    await client.send("signin")
    await client.expect(lambda r: r["type"] == "signed_in", "sign-in")
    await asyncio.to_thread(sdk(server).terminate_user_connections, "bye")
    error = await client.expect(lambda r: r["type"] == "error", "4009 error")
    assert error["error"]["code"] == 4009
