"""pusher-js and Laravel Echo from npm, run in Node, against roomkey's Pusher transport."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.pusher import channel_auth, encrypt_like_the_sdk
from tests.support.servers import Server
from tests.support.socketio_client import ConnectClient
from tests.support.waiting import wait_for_condition

pytestmark = [pytest.mark.node]


async def test_private_and_presence_with_member_events_and_publish(
    server: Server, node_pusher: Any
) -> None:
    a = await node_pusher(server, user_id="1")
    await a.connected()
    await a.send("subscribe", channel="private-user-1")
    await a.event("private-user-1", "pusher:subscription_succeeded")
    await a.send("subscribe", channel="presence-lobby")
    joined = await a.event("presence-lobby", "pusher:subscription_succeeded")
    assert joined["data"]["count"] == 1
    assert joined["data"]["me"] == {"id": "1", "info": {"name": "User 1"}}

    b = await node_pusher(server, user_id="2")
    await b.connected()
    await b.send("subscribe", channel="presence-lobby")
    joined = await b.event("presence-lobby", "pusher:subscription_succeeded")
    assert joined["data"]["count"] == 2
    assert set(joined["data"]["members"]) == {"1", "2"}
    added = await a.event("presence-lobby", "pusher:member_added")
    assert added["data"] == {"id": "2", "info": {"name": "User 2"}}

    rt = server.runtime
    await rt.hub.publish(rt.apps.default, ["private-user-1"], "greeting", '{"hello":"world"}')
    got = await a.event("private-user-1", "greeting")
    assert got["data"] == {"hello": "world"}

    await b.stop()
    removed = await a.event("presence-lobby", "pusher:member_removed")
    assert removed["data"]["id"] == "2"


async def test_refused_subscription_reaches_the_channel_error_callback(
    server: Server, node_pusher: Any
) -> None:
    client = await node_pusher(server, user_id="1")
    await client.connected()
    await client.send("subscribe", channel="private-denied-x")
    error = await client.event("private-denied-x", "pusher:subscription_error")
    assert error["data"]["status"] == 403


async def test_encrypted_publish_is_decrypted_by_pusher_js(
    server: Server, node_pusher: Any
) -> None:
    client = await node_pusher(server, user_id="42")
    await client.connected()
    channel = "private-encrypted-user-42"
    await client.send("subscribe", channel=channel)
    await client.event(channel, "pusher:subscription_succeeded")
    rt = server.runtime
    secret = {"card": "4242", "n": 7}
    await rt.hub.publish(
        rt.apps.default, [channel], "secret", encrypt_like_the_sdk(channel, secret)
    )
    got = await client.event(channel, "secret")
    assert got["data"] == secret
    await client.send("trigger", channel=channel, event="client-x", data={})
    refused = await client.expect(lambda r: r["type"] == "trigger_refused", "refusal")
    assert "encrypted" in refused["error"]


async def test_client_events_between_pusher_js_and_socketio(
    server: Server, node_pusher: Any, connect: ConnectClient
) -> None:
    js = await node_pusher(server, user_id="js")
    await js.connected()
    await js.send("subscribe", channel="presence-chat")
    await js.event("presence-chat", "pusher:subscription_succeeded")

    sio = await connect(server)
    body = await channel_auth(server, sio.socket_id, "presence-chat", "sio")
    ack = await sio.subscribe("presence-chat", auth=body["auth"], channel_data=body["channel_data"])
    assert sorted(ack["presence"]["ids"]) == ["js", "sio"]
    added = await js.event("presence-chat", "pusher:member_added")
    assert added["data"]["id"] == "sio"

    await js.send("bind", channel="presence-chat", event="client-hi")
    await js.expect(lambda r: r["type"] == "listening", "the client-hi callback bound")
    answer = await sio.call(
        "trigger", {"channel": "presence-chat", "event": "client-hi", "data": {"from": "sio"}}
    )
    assert answer == {}
    hi = await js.expect(lambda r: r["type"] == "bound", "client-hi")
    assert hi["data"] == {"from": "sio"}
    assert hi["metadata"] == {"user_id": "sio"}

    await js.send("trigger", channel="presence-chat", event="client-back", data={"from": "js"})
    back = await sio.next("event")
    assert back == {
        "channel": "presence-chat",
        "event": "client-back",
        "data": {"from": "js"},
        "user_id": "js",
    }


async def test_signin_server_to_user_and_terminate(server: Server, node_pusher: Any) -> None:
    client = await node_pusher(server, user_id="u7")
    await client.connected()
    await client.send("signin")
    signed = await client.expect(lambda r: r["type"] == "signed_in", "sign-in")
    assert signed["user_data"]["id"] == "u7"
    rt = server.runtime
    await _until_subscribed(rt, "#server-to-user-u7")
    await rt.hub.publish(rt.apps.default, ["#server-to-user-u7"], "notice", '{"n":1}')
    notice = await client.expect(lambda r: r["type"] == "user_event", "user event")
    assert notice["event"] == "notice" and notice["data"] == {"n": 1}

    await rt.hub.terminate_user(rt.apps.default, "u7")
    error = await client.expect(lambda r: r["type"] == "error", "4009 error")
    assert error["error"]["code"] == 4009
    await client.expect(
        lambda r: r["type"] == "state" and r["current"] == "disconnected", "disconnected"
    )


async def test_reconnects_and_resubscribes_after_4200(server: Server, node_pusher: Any) -> None:
    client = await node_pusher(server, user_id="42")
    first = await client.connected()
    await client.send("subscribe", channel="private-user-42")
    await client.event("private-user-42", "pusher:subscription_succeeded")
    rt = server.runtime
    for conn in list(rt.hub.connections.values()):
        conn.close(4200, "server is restarting, reconnect")
    second = await client.connected()
    assert second != first
    await client.event("private-user-42", "pusher:subscription_succeeded")
    await rt.hub.publish(rt.apps.default, ["private-user-42"], "after", '"back"')
    assert (await client.event("private-user-42", "after"))["data"] == "back"


async def test_laravel_echo_joins_a_presence_channel(server: Server, node_pusher: Any) -> None:
    a = await node_pusher(server, user_id="1", echo=True)
    await a.connected()
    await a.send("echo_join", room="room.1")
    here = await a.expect(lambda r: r["type"] == "echo_here", "here()")
    assert here["members"] == [{"name": "User 1"}]

    b = await node_pusher(server, user_id="2", echo=True)
    await b.connected()
    await b.send("echo_join", room="room.1")
    here = await b.expect(lambda r: r["type"] == "echo_here", "here()")
    assert sorted(m["name"] for m in here["members"]) == ["User 1", "User 2"]
    joining = await a.expect(lambda r: r["type"] == "echo_joining", "joining()")
    assert joining["member"] == {"name": "User 2"}

    await b.send("echo_whisper", room="room.1", data={"typing": True})
    whisper = await a.expect(lambda r: r["type"] == "echo_whisper", "whisper")
    assert whisper["data"] == {"typing": True}


async def _until_subscribed(rt: Any, channel: str) -> None:
    await wait_for_condition(
        lambda: rt.hub.local_subscribers(rt.apps.default.id, channel), f"somebody to join {channel}"
    )
