"""The official Python ``pusher`` SDK, as an app hosting its own authorize endpoint, signs for
roomkey's socket ids, and roomkey accepts those signatures."""

from __future__ import annotations

import pusher

from tests.conftest import APP_ID, APP_KEY, APP_SECRET, ConnectClient, Server


def sdk() -> pusher.Pusher:
    return pusher.Pusher(app_id=APP_ID, key=APP_KEY, secret=APP_SECRET, host="127.0.0.1")


async def test_private_channel_signed_by_the_sdk(server: Server, connect: ConnectClient) -> None:
    client = await connect(server)
    # The SDK refuses socket ids that are not Pusher-shaped: this proves roomkey's are.
    body = sdk().authenticate(channel="private-orders", socket_id=client.socket_id)
    assert await client.subscribe("private-orders", **body) == {"channel": "private-orders"}
    rt = server.runtime
    await rt.hub.publish(rt.apps.default, ["private-orders"], "created", '{"id":1}')
    assert (await client.next("event"))["data"] == '{"id":1}'


async def test_presence_channel_signed_by_the_sdk(server: Server, connect: ConnectClient) -> None:
    a = await connect(server)
    b = await connect(server)
    custom = {"user_id": "u1", "user_info": {"name": "Ada"}}
    body_a = sdk().authenticate(channel="presence-team", socket_id=a.socket_id, custom_data=custom)
    # The SDK serialises with spaces; roomkey verifies the exact string it was given.
    assert ", " in body_a["channel_data"]
    ack = await a.subscribe("presence-team", **body_a)
    assert ack["presence"] == {"ids": ["u1"], "hash": {"u1": {"name": "Ada"}}, "count": 1}
    body_b = sdk().authenticate(
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
    body = sdk().authenticate(channel="private-orders", socket_id=a.socket_id)
    answer = await b.subscribe("private-orders", **body)
    assert answer["error"]["code"] == 4009
    assert server.runtime.hub.connections[b.socket_id].channels == {}
