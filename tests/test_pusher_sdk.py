"""The official Python ``pusher`` SDK publishing to pusher-js through roomkey.

These go through roomkey's REST API (``POST /apps/{id}/events``,
``/users/{id}/terminate_connections``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import Server
from tests.rest_helpers import sdk

MASTER_KEY = bytes(range(32))  # make_settings' encryption_master_key


async def test_sdk_publish_reaches_pusher_js_plain_and_encrypted(
    server: Server, node_pusher: Any
) -> None:
    client = await node_pusher(server, user_id="42")
    await client.connected()
    for channel in ("private-user-42", "private-encrypted-user-42"):
        await client.send("subscribe", channel=channel)
        await client.event(channel, "pusher:subscription_succeeded")
    api = sdk(server, encryption_master_key=MASTER_KEY)
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
