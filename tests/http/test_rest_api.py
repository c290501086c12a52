"""Pusher's HTTP API through the official Python SDK, received by real Socket.IO clients."""

from __future__ import annotations

import base64
import hashlib
import json

import nacl.secret
import pusher
import pytest

from tests.support.apps import APP_ID, make_token
from tests.support.rest import call_sdk, join, sdk, signed_get, signed_post
from tests.support.servers import Server
from tests.support.socketio_client import ConnectClient
from tests.support.waiting import wait_for_condition


async def test_trigger_reaches_subscribers_exactly_as_sent(
    server: Server, connect: ConnectClient
) -> None:
    a = await connect(server)
    b = await connect(server)
    await join(a, server, "private-news")
    await a.subscribe("public-news")
    await join(b, server, "private-news")
    client = sdk(server)
    assert await call_sdk(client.trigger, "private-news", "story", '{"raw":"string"}') == {}
    for c in (a, b):
        assert await c.next("event") == {
            "channel": "private-news",
            "event": "story",
            "data": '{"raw":"string"}',
        }
    # Objects are JSON-encoded by the SDK and stay that exact string.
    await call_sdk(client.trigger, ["private-news", "public-news"], "obj", {"n": 1, "s": "é"})
    got = [await a.next("event"), await a.next("event")]
    assert {e["channel"] for e in got} == {"private-news", "public-news"}
    for e in got:
        assert e["event"] == "obj"
        assert isinstance(e["data"], str)
        assert json.loads(e["data"]) == {"n": 1, "s": "é"}


async def test_trigger_excludes_the_socket_id(server: Server, connect: ConnectClient) -> None:
    a = await connect(server)
    b = await connect(server)
    await join(a, server, "private-x")
    await join(b, server, "private-x")
    await call_sdk(sdk(server).trigger, "private-x", "ping", "1", socket_id=a.socket_id)
    assert (await b.next("event"))["data"] == "1"
    await a.nothing("event")


async def test_trigger_batch(server: Server, connect: ConnectClient) -> None:
    a = await connect(server)
    await join(a, server, "private-one")
    await join(a, server, "private-two")
    batch = [
        {"channel": "private-one", "name": "e1", "data": "first"},
        {"channel": "private-two", "name": "e2", "data": {"second": True}},
    ]
    assert await call_sdk(sdk(server).trigger_batch, batch) == {}
    first, second = await a.next("event"), await a.next("event")
    assert first == {"channel": "private-one", "event": "e1", "data": "first"}
    assert second["event"] == "e2"
    assert json.loads(second["data"]) == {"second": True}


async def test_channel_queries(server: Server, connect: ConnectClient) -> None:
    a = await connect(server)
    b = await connect(server)
    c = await connect(server)
    await join(a, server, "presence-room", "u1", {"name": "Ada"})
    await join(b, server, "presence-room", "u2")
    await join(c, server, "presence-room", "u1")  # u1's second connection
    await join(a, server, "private-chat")
    client = sdk(server)

    everything = await call_sdk(client.channels_info)
    assert everything == {"channels": {"presence-room": {}, "private-chat": {}}}
    presence = await call_sdk(client.channels_info, "presence-", ["user_count"])
    assert presence == {"channels": {"presence-room": {"user_count": 2}}}
    info = await call_sdk(
        client.channel_info, "presence-room", ["user_count", "subscription_count"]
    )
    assert info == {"occupied": True, "user_count": 2, "subscription_count": 3}
    assert await call_sdk(client.channel_info, "private-empty") == {"occupied": False}
    users = await call_sdk(client.users_info, "presence-room")
    assert sorted(u["id"] for u in users["users"]) == ["u1", "u2"]

    # As Pusher: user_count only for presence channels; users only of presence channels.
    with pytest.raises(pusher.errors.PusherBadRequest):
        await call_sdk(client.channel_info, "private-chat", ["user_count"])
    with pytest.raises(pusher.errors.PusherBadRequest):
        await call_sdk(client.channels_info, "private-", ["user_count"])
    with pytest.raises(pusher.errors.PusherBadRequest):
        await call_sdk(client.users_info, "private-chat")

    await b.client.disconnect()

    async def one_user_left() -> bool:
        nonlocal users
        users = await call_sdk(client.users_info, "presence-room")
        return len(users["users"]) == 1

    await wait_for_condition(one_user_left, "one user left in presence-room", interval=0.05)
    assert users == {"users": [{"id": "u1"}]}


async def test_trigger_info_returns_channel_attributes(
    server: Server, connect: ConnectClient
) -> None:
    a = await connect(server)
    await join(a, server, "presence-lobby", "u1")
    await join(a, server, "private-side")
    answer = await signed_post(
        server,
        f"/apps/{APP_ID}/events",
        {
            "name": "hello",
            "data": "x",
            "channels": ["presence-lobby", "private-side"],
            "info": "user_count,subscription_count",
        },
    )
    assert answer.status == 200, answer.body
    assert answer.body == {
        "channels": {
            "presence-lobby": {"user_count": 1, "subscription_count": 1},
            "private-side": {"subscription_count": 1},
        }
    }
    batch = await signed_post(
        server,
        f"/apps/{APP_ID}/batch_events",
        {
            "batch": [
                {"channel": "presence-lobby", "name": "a", "data": "1", "info": "user_count"},
                {"channel": "private-side", "name": "b", "data": "2"},
            ]
        },
    )
    assert batch.status == 200, batch.body
    assert batch.body == {"batch": [{"user_count": 1}, {}]}


async def test_terminate_user_connections_through_the_sdk(
    server: Server, connect: ConnectClient
) -> None:
    a = await connect(server)
    b = await connect(server)
    client = sdk(server)
    for conn, user in ((a, "bye"), (b, "stay")):
        signed = client.authenticate_user(conn.socket_id, {"id": user})
        assert (await conn.call("signin", signed))["user_data"] == signed["user_data"]
    # The SDK posts /users/{id}/terminate_connections (no /apps/{id} prefix).
    assert await call_sdk(client.terminate_user_connections, "bye") == {}
    assert (await a.next("error"))["code"] == 4009
    await a.wait_disconnected()
    assert b.client.connected
    # The prefixed form works as well.
    answer = await signed_post(server, f"/apps/{APP_ID}/users/stay/terminate_connections", {})
    assert answer.status == 200, answer.body
    assert (await b.next("error"))["code"] == 4009


async def test_send_to_user_reaches_the_signed_in_user(
    server: Server, connect: ConnectClient
) -> None:
    a = await connect(server)
    client = sdk(server)
    await a.call("signin", client.authenticate_user(a.socket_id, {"id": "u9"}))
    await call_sdk(client.send_to_user, "u9", "note", "just for you")
    assert await a.next("event") == {
        "channel": "#server-to-user-u9",
        "event": "note",
        "data": "just for you",
    }
    # The user's own channel is internal: listed only when asked for by its prefix.
    assert await call_sdk(client.channels_info) == {"channels": {}}
    # (Escaped by hand: the SDK sends query values unescaped, and "#" would start a fragment.)
    mine = await signed_get(
        server, f"/apps/{APP_ID}/channels", {"filter_by_prefix": "#server-to-user-"}
    )
    assert (mine.status, mine.body) == (200, {"channels": {"#server-to-user-u9": {}}})


async def test_channel_names_with_every_allowed_character(
    server: Server, connect: ConnectClient
) -> None:
    # The SDK signs the path unescaped; roomkey must check what it was sent.
    name = "presence-a_b-c=d@e,f.g;h"
    a = await connect(server)
    await join(a, server, name, "u1")
    client = sdk(server)
    info = await call_sdk(client.channel_info, name, ["user_count"])
    assert info == {"occupied": True, "user_count": 1}
    assert await call_sdk(client.users_info, name) == {"users": [{"id": "u1"}]}
    await call_sdk(client.trigger, name, "odd", "ok")
    assert (await a.next("event"))["channel"] == name


async def test_encrypted_channel_payload_is_relayed_untouched(
    server: Server, connect: ConnectClient
) -> None:
    master = bytes(range(32))  # make_settings' encryption_master_key
    client = sdk(server, encryption_master_key=master)
    a = await connect(server, token=make_token("7"))
    assert (await a.subscribe("private-encrypted-user-7"))["channel"]
    await call_sdk(client.trigger, "private-encrypted-user-7", "secret", {"pin": 1234})
    event = await a.next("event")
    envelope = json.loads(event["data"])
    assert set(envelope) == {"nonce", "ciphertext"}
    key = hashlib.sha256(b"private-encrypted-user-7" + master).digest()
    plain = nacl.secret.SecretBox(key).decrypt(
        base64.b64decode(envelope["ciphertext"]), base64.b64decode(envelope["nonce"])
    )
    assert json.loads(plain) == {"pin": 1234}
