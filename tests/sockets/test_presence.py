"""Presence over Socket.IO: the ack, member_added on a user's first connection only,
member_removed on the last one only, and channel_data built from the identity."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from roomkey.config import Limits
from tests.support.apps import make_settings, make_token
from tests.support.authorize import authorized, post_auth
from tests.support.servers import Server, StartServer
from tests.support.socketio_client import ConnectClient, SioClient
from tests.support.waiting import wait_for_condition

CHANNEL = "presence-room"


async def join(
    server: Server, connect: ConnectClient, user_id: str, name: str
) -> tuple[SioClient, dict[str, Any]]:
    client = await connect(server)
    body = await authorized(server, client.socket_id, CHANNEL, user_id, name=name)
    ack = await client.subscribe(CHANNEL, auth=body["auth"], channel_data=body["channel_data"])
    return client, ack


async def test_ack_includes_the_subscriber(server: Server, connect: ConnectClient) -> None:
    _, first = await join(server, connect, "1", "Ada")
    assert first == {
        "channel": CHANNEL,
        "presence": {"ids": ["1"], "hash": {"1": {"name": "Ada"}}, "count": 1},
    }
    _, second = await join(server, connect, "2", "Bob")
    presence = second["presence"]
    assert sorted(presence["ids"]) == ["1", "2"]
    assert presence["hash"] == {"1": {"name": "Ada"}, "2": {"name": "Bob"}}
    assert presence["count"] == 2


async def test_member_events_on_first_and_last_connection_only(
    server: Server, connect: ConnectClient
) -> None:
    watcher, _ = await join(server, connect, "w", "Watcher")
    a1, _ = await join(server, connect, "a", "Ada")
    assert await watcher.next("member_added") == {
        "channel": CHANNEL,
        "user_id": "a",
        "user_info": {"name": "Ada"},
    }
    # The joiner is not told about itself.
    await a1.nothing("member_added", within=0.1)
    a2, ack = await join(server, connect, "a", "Ada")
    assert ack["presence"]["count"] == 2  # one entry per user, not per connection
    await watcher.nothing("member_added", within=0.2)
    # Leaving with one connection of "a" still there: nobody is told.
    assert await a2.call("unsubscribe", {"channel": CHANNEL}) == {"channel": CHANNEL}
    await watcher.nothing("member_removed", within=0.2)
    # The last connection of "a" disconnects: now "a" is gone.
    await a1.client.disconnect()
    assert await watcher.next("member_removed") == {"channel": CHANNEL, "user_id": "a"}
    assert await server.runtime.hub.presence.members("101", CHANNEL) == {"w": {"name": "Watcher"}}


async def test_member_removed_on_unsubscribe_of_the_last_connection(
    server: Server, connect: ConnectClient
) -> None:
    watcher, _ = await join(server, connect, "w", "Watcher")
    a, _ = await join(server, connect, "a", "Ada")
    await watcher.next("member_added")
    await a.call("unsubscribe", {"channel": CHANNEL})
    assert await watcher.next("member_removed") == {"channel": CHANNEL, "user_id": "a"}
    # Rejoining is a first connection again.
    body = await authorized(server, a.socket_id, CHANNEL, "a", name="Ada")
    await a.subscribe(CHANNEL, auth=body["auth"], channel_data=body["channel_data"])
    assert (await watcher.next("member_added"))["user_id"] == "a"


async def test_channel_data_comes_from_the_identity_only(
    server: Server, connect: ConnectClient
) -> None:
    client = await connect(server)
    token = make_token("7", name="Ada", role="admin", email="ada@example.com")
    status, body, _ = await post_auth(
        server,
        {
            "socket_id": client.socket_id,
            "channel_name": CHANNEL,
            "channel_data": json.dumps({"user_id": "admin", "user_info": {"name": "Root"}}),
            "user_id": "admin",
        },
        token=token,
    )
    assert status == 200
    # user_info holds the configured claims (jwt.user_info_claims = ["name"]) and nothing else.
    assert body["channel_data"] == '{"user_id":"7","user_info":{"name":"Ada"}}'
    ack = await client.subscribe(CHANNEL, auth=body["auth"], channel_data=body["channel_data"])
    assert ack["presence"]["hash"] == {"7": {"name": "Ada"}}


async def test_identified_connection_joins_presence_without_auth(
    server: Server, connect: ConnectClient
) -> None:
    watcher, _ = await join(server, connect, "w", "Watcher")
    client = await connect(server, token=make_token("9", name="Cy"))
    ack = await client.subscribe(CHANNEL, channel_data='{"user_id":"root"}')
    assert ack["presence"]["hash"]["9"] == {"name": "Cy"}
    assert "root" not in ack["presence"]["hash"]
    assert await watcher.next("member_added") == {
        "channel": CHANNEL,
        "user_id": "9",
        "user_info": {"name": "Cy"},
    }


async def test_presence_member_limit(start_server: StartServer, connect: ConnectClient) -> None:
    server = await start_server(make_settings(limits=Limits(max_presence_members=1)))
    first, _ = await join(server, connect, "1", "Ada")
    second = await connect(server)
    body = await authorized(server, second.socket_id, CHANNEL, "2", name="Bob")
    answer = await second.subscribe(CHANNEL, auth=body["auth"], channel_data=body["channel_data"])
    assert answer["error"]["code"] == 4100
    assert "full" in answer["error"]["message"]
    await first.nothing("member_added", within=0.1)
    assert server.runtime.hub.connections[second.socket_id].channels == {}


async def test_disconnect_while_a_subscribe_is_being_decided(
    start_server: StartServer, connect: ConnectClient
) -> None:
    asked = asyncio.Event()
    release = asyncio.Event()

    async def slow_policy(app: Any, identity: Any, channel: str) -> bool:
        if identity.user_id == "slow":
            asked.set()
            await release.wait()
        return True

    server = await start_server(policy=slow_policy)
    watcher = await connect(server, token=make_token("w"))
    await watcher.subscribe(CHANNEL)
    slow = await connect(server, token=make_token("slow"))
    await slow.client.emit("subscribe", {"channel": CHANNEL}, callback=lambda *a: None)
    await asyncio.wait_for(asked.wait(), 3)
    await slow.client.disconnect()
    rt = server.runtime
    await wait_for_condition(lambda: slow.socket_id not in rt.hub.connections, "the socket gone")
    release.set()
    await asyncio.sleep(0.1)
    # The subscribe finished after the socket was gone: nothing of it remains, and the
    # other members were never told about a member that was never there.
    assert await rt.hub.presence.members("101", CHANNEL) == {"w": {}}
    assert await rt.hub.presence.subscriber_count("101", CHANNEL) == 1
    assert rt.hub.local_subscribers("101", CHANNEL) == 1
    await watcher.nothing("member_added", within=0.2)
    await watcher.nothing("member_removed", within=0.0)
