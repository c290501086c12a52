"""The official Python ``pusher`` SDK: as an app hosting its own authorize endpoint, it signs
for roomkey's socket ids and roomkey accepts those signatures; publishing and terminating
through roomkey's REST API (``POST /apps/{id}/events``, ``/users/{id}/terminate_connections``),
it reaches pusher-js in Node."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.apps import MASTER_KEY
from tests.support.rest import sdk
from tests.support.servers import Server
from tests.support.socketio_client import ConnectClient


async def test_private_channel_signed_by_the_sdk(server: Server, connect: ConnectClient) -> None:
    client = await connect(server)
    # The SDK refuses socket ids that are not Pusher-shaped: this proves roomkey's are.
    body = sdk(server).authenticate(channel="private-orders", socket_id=client.socket_id)
    assert await client.subscribe("private-orders", **body) == {"channel": "private-orders"}
    rt = server.runtime
    await rt.hub.publish(rt.apps.default, ["private-orders"], "created", '{"id":1}')
    assert (await client.next("event"))["data"] == '{"id":1}'


async def test_presence_channel_signed_by_the_sdk(server: Server, connect: ConnectClient) -> None:
    a = await connect(server)
    b = await connect(server)
    custom = {"user_id": "u1", "user_info": {"name": "Ada"}}
    body_a = sdk(server).authenticate(
        channel="presence-team", socket_id=a.socket_id, custom_data=custom
    )
    # The SDK serialises with spaces; roomkey verifies the exact string it was given.
    assert ", " in body_a["channel_data"]
    ack = await a.subscribe("presence-team", **body_a)
    assert ack["presence"] == {"ids": ["u1"], "hash": {"u1": {"name": "Ada"}}, "count": 1}
    body_b = sdk(server).authenticate(
        channel="presence-team", socket_id=b.socket_id, custom_data={"user_id": 2}
    )
    ack = await b.subscribe("presence-team", **body_b)
    assert ack["presence"]["count"] == 2
    assert ack["presence"]["hash"]["2"] is None
    assert await a.next("member_added") == {
        "channel": "presence-team",
        "user_id": "2",
        "user_info": None,
    }


async def test_sdk_signature_for_another_socket_is_refused(
    server: Server, connect: ConnectClient
) -> None:
    a = await connect(server)
    b = await connect(server)
    body = sdk(server).authenticate(channel="private-orders", socket_id=a.socket_id)
    answer = await b.subscribe("private-orders", **body)
    assert answer["error"]["code"] == 4009
    assert server.runtime.hub.connections[b.socket_id].channels == {}


# -- publishing to pusher-js in Node through the REST API ----------------------------------


@pytest.mark.node
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


@pytest.mark.node
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
