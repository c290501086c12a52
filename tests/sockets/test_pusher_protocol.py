"""Pusher's WebSocket protocol at /app/{key}, frame by frame, with a raw WebSocket client."""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
import pytest

from tests.support.apps import make_settings
from tests.support.pusher import RawPusherFactory, channel_auth, user_auth
from tests.support.servers import Server, StartServer
from tests.support.socketio_client import ConnectClient
from tests.support.waiting import wait_for_condition


async def test_connection_established_first(server: Server, raw_pusher: RawPusherFactory) -> None:
    client = await raw_pusher(server)
    first = await client.next()
    assert first["event"] == "pusher:connection_established"
    assert isinstance(first["data"], str)
    data = json.loads(first["data"])
    assert data["activity_timeout"] == 120
    assert data["socket_id"].count(".") == 1
    assert all(part.isdigit() for part in data["socket_id"].split("."))


async def test_ping_pong(server: Server, raw_pusher: RawPusherFactory) -> None:
    client = await raw_pusher.established(server)
    await client.send("pusher:ping", {})
    assert (await client.next())["event"] == "pusher:pong"


async def test_unknown_key_closes_with_4001(server: Server, raw_pusher: RawPusherFactory) -> None:
    client = await raw_pusher(server, key="nope")
    error = await client.next()
    assert error["event"] == "pusher:error"
    assert error["data"]["code"] == 4001
    assert await client.closed_with() == 4001


async def test_protocol_versions(server: Server, raw_pusher: RawPusherFactory) -> None:
    for version in ("5", "6", "7"):
        ok = await raw_pusher(server, protocol=version)
        assert (await ok.next())["event"] == "pusher:connection_established"
    missing = await raw_pusher(server, protocol=None)
    assert (await missing.next())["data"]["code"] == 4008
    assert await missing.closed_with() == 4008
    old = await raw_pusher(server, protocol="4")
    assert (await old.next())["data"]["code"] == 4007
    assert await old.closed_with() == 4007


async def test_private_subscribe_and_receive_publish(
    server: Server, raw_pusher: RawPusherFactory
) -> None:
    client = await raw_pusher.established(server)
    body = await channel_auth(server, client.socket_id, "private-user-42")
    ok = await client.subscribe("private-user-42", auth=body["auth"])
    assert ok["event"] == "pusher_internal:subscription_succeeded"
    assert isinstance(ok["data"], str)
    rt = server.runtime
    await rt.hub.publish(rt.apps.default, ["private-user-42"], "greeting", '{"hello":"world"}')
    event = await client.next()
    assert event == {"event": "greeting", "channel": "private-user-42", "data": '{"hello":"world"}'}


async def test_bad_signature_is_a_subscription_error_and_socket_stays(
    server: Server, raw_pusher: RawPusherFactory
) -> None:
    client = await raw_pusher.established(server)
    other = await raw_pusher.established(server)
    body = await channel_auth(server, other.socket_id, "private-user-42")
    refused = await client.subscribe("private-user-42", auth=body["auth"])
    assert refused["event"] == "pusher:subscription_error"
    assert refused["data"]["type"] == "AuthError"
    assert refused["data"]["status"] == 401
    error = await client.next()
    assert error["event"] == "pusher:error"
    assert error["data"]["code"] == 4009
    # Nothing else changed: the socket still answers and the channel is not joined.
    await client.send("pusher:ping", {})
    assert (await client.next())["event"] == "pusher:pong"
    rt = server.runtime
    await rt.hub.publish(rt.apps.default, ["private-user-42"], "leak", "x")
    await client.nothing()


async def test_public_channel_with_empty_auth(server: Server, raw_pusher: RawPusherFactory) -> None:
    client = await raw_pusher.established(server)
    ok = await client.subscribe("news", auth="")
    assert ok["event"] == "pusher_internal:subscription_succeeded"
    await client.send("pusher:unsubscribe", {"channel": "news"})
    await wait_for_condition(
        lambda: server.runtime.hub.local_subscribers("101", "news") == 0, "unsub"
    )


async def test_presence_members_and_events(server: Server, raw_pusher: RawPusherFactory) -> None:
    a = await raw_pusher.established(server)
    body = await channel_auth(server, a.socket_id, "presence-room", "1")
    ok = await a.subscribe("presence-room", auth=body["auth"], channel_data=body["channel_data"])
    presence = json.loads(ok["data"])["presence"]
    assert presence == {"ids": ["1"], "hash": {"1": {"name": "User 1"}}, "count": 1}

    b = await raw_pusher.established(server)
    body = await channel_auth(server, b.socket_id, "presence-room", "2")
    ok = await b.subscribe("presence-room", auth=body["auth"], channel_data=body["channel_data"])
    presence = json.loads(ok["data"])["presence"]
    assert sorted(presence["ids"]) == ["1", "2"] and presence["count"] == 2

    added = await a.next()
    assert added["event"] == "pusher_internal:member_added"
    assert json.loads(added["data"]) == {"user_id": "2", "user_info": {"name": "User 2"}}

    await b.send("client-typing", {"now": True}, channel="presence-room")
    typed = await a.next()
    assert typed["event"] == "client-typing"
    assert typed["user_id"] == "2"
    assert json.loads(typed["data"]) == {"now": True}

    await b.ws.close()
    removed = await a.next()
    assert removed["event"] == "pusher_internal:member_removed"
    assert json.loads(removed["data"]) == {"user_id": "2"}


async def test_client_events_refused_on_public_and_encrypted(
    server: Server, raw_pusher: RawPusherFactory
) -> None:
    client = await raw_pusher.established(server)
    await client.subscribe("news")
    await client.send("client-x", {"a": 1}, channel="news")
    error = await client.next()
    assert error["event"] == "pusher:error" and error["data"]["code"] == 4301
    body = await channel_auth(server, client.socket_id, "private-encrypted-user-42")
    assert "shared_secret" in body
    ok = await client.subscribe("private-encrypted-user-42", auth=body["auth"])
    assert ok["event"] == "pusher_internal:subscription_succeeded"
    await client.send("client-x", {"a": 1}, channel="private-encrypted-user-42")
    error = await client.next()
    assert error["event"] == "pusher:error" and error["data"]["code"] == 4301


async def test_bad_frames_are_errors_not_crashes(
    start_server: StartServer, raw_pusher: RawPusherFactory
) -> None:
    server = await start_server(make_settings(limits=_limits(max_pusher_frame_bytes=1000)))
    client = await raw_pusher.established(server)
    await client.ws.send_str("not json")
    assert (await client.next())["event"] == "pusher:error"
    await client.ws.send_str("[1, 2]")
    assert (await client.next())["event"] == "pusher:error"
    await client.send("pusher:nonsense", {})
    assert (await client.next())["data"]["code"] == 4300
    await client.send("pusher:subscribe", "not an object")
    assert (await client.next())["event"] == "pusher:error"
    await client.send("pusher:subscribe", {"channel": "bad channel!"})
    answer = await client.next()
    assert answer["event"] == "pusher:subscription_error"
    await client.next()  # the pusher:error that follows
    await client.send("client-big", "x" * 2000, channel="private-a")
    too_big = await client.next()
    assert too_big["event"] == "pusher:error" and too_big["data"]["code"] == 4100
    # Still alive.
    await client.send("pusher:ping", {})
    assert (await client.next())["event"] == "pusher:pong"


@pytest.mark.slow
async def test_idle_socket_is_pinged_then_closed_with_4201(
    start_server: StartServer, raw_pusher: RawPusherFactory
) -> None:
    settings = make_settings(server={"activity_timeout": 1, "pusher_pong_timeout_seconds": 0.3})
    server = await start_server(settings)
    client = await raw_pusher.established(server)
    ping = await client.next(timeout=3)
    assert ping["event"] == "pusher:ping"
    error = await client.next(timeout=3)
    assert error["event"] == "pusher:error" and error["data"]["code"] == 4201
    assert await client.closed_with() == 4201

    answering = await raw_pusher.established(server)
    assert (await answering.next(timeout=3))["event"] == "pusher:ping"
    await answering.send("pusher:pong", {})
    assert (await answering.next(timeout=3))["event"] == "pusher:ping"
    assert not answering.ws.closed


async def test_shutdown_closes_with_4200(
    start_server: StartServer, raw_pusher: RawPusherFactory
) -> None:
    server = await start_server()
    client = await raw_pusher.established(server)
    stopping = asyncio.ensure_future(server.runner.cleanup())
    error = await client.next()
    assert error["event"] == "pusher:error" and error["data"]["code"] == 4200
    assert await client.closed_with() == 4200
    await asyncio.wait_for(stopping, 5)


async def test_signin_and_server_to_user_channel(
    server: Server, raw_pusher: RawPusherFactory
) -> None:
    client = await raw_pusher.established(server)
    body = await user_auth(server, client.socket_id, "u1")
    await client.send("pusher:signin", body)
    ok = await client.next()
    assert ok["event"] == "pusher:signin_success"
    assert ok["data"]["user_data"] == body["user_data"]
    # What pusher-js does next: subscribe to its own channel, with an empty auth.
    sub = await client.subscribe("#server-to-user-u1", auth="")
    assert sub["event"] == "pusher_internal:subscription_succeeded"
    rt = server.runtime
    await rt.hub.publish(rt.apps.default, ["#server-to-user-u1"], "note", "for u1")
    assert (await client.next())["data"] == "for u1"
    refused = await client.subscribe("#server-to-user-u2", auth="")
    assert refused["event"] == "pusher:subscription_error"

    forged = await raw_pusher.established(server)
    await forged.send("pusher:signin", body)  # signed for another socket
    error = await forged.next()
    assert error["event"] == "pusher:error" and error["data"]["code"] == 4009

    await rt.hub.terminate_user(rt.apps.default, "u1")
    assert await client.closed_with() == 4009
    assert not forged.ws.closed


async def test_publish_reaches_both_transports_and_presence_spans_them(
    server: Server, raw_pusher: RawPusherFactory, connect: ConnectClient
) -> None:
    pusher_client = await raw_pusher.established(server)
    body = await channel_auth(server, pusher_client.socket_id, "presence-mixed", "p1")
    await pusher_client.subscribe(
        "presence-mixed", auth=body["auth"], channel_data=body["channel_data"]
    )
    sio = await connect(server)
    body = await channel_auth(server, sio.socket_id, "presence-mixed", "s1")
    ack = await sio.subscribe(
        "presence-mixed", auth=body["auth"], channel_data=body["channel_data"]
    )
    assert sorted(ack["presence"]["ids"]) == ["p1", "s1"]
    added = await pusher_client.next()
    assert json.loads(added["data"])["user_id"] == "s1"

    await sio.call("trigger", {"channel": "presence-mixed", "event": "client-hi", "data": {"n": 1}})
    hi = await pusher_client.next()
    assert hi["event"] == "client-hi" and hi["user_id"] == "s1"

    await pusher_client.send("client-back", {"n": 2}, channel="presence-mixed")
    back = await sio.next("event")
    assert back == {
        "channel": "presence-mixed",
        "event": "client-back",
        "data": {"n": 2},
        "user_id": "p1",
    }
    rt = server.runtime
    await rt.hub.publish(rt.apps.default, ["presence-mixed"], "both", "payload")
    assert (await pusher_client.next())["data"] == "payload"
    assert (await sio.next("event"))["data"] == "payload"


async def test_plain_http_get_is_refused(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        resp = await http.get(f"{server.url}/app/test-key")
        assert resp.status == 400


def _limits(**overrides: int) -> object:
    from dataclasses import replace

    from roomkey.config import Limits

    return replace(Limits(), **overrides)


async def test_slow_reader_is_closed_with_4100_not_buffered_forever(
    start_server: StartServer, raw_pusher: RawPusherFactory
) -> None:
    from dataclasses import replace

    from roomkey.config import PerformanceSettings

    # Every delivery queued for the writer (direct writes would hand these to the kernel,
    # which takes them: tests/test_pusher_direct_writes.py covers a client that stops reading).
    settings = replace(
        make_settings(limits=_limits(max_outbound_buffer_bytes=2000)),
        performance=PerformanceSettings(direct_writes=False),
    )
    server = await start_server(settings)
    client = await raw_pusher.established(server)
    await client.subscribe("news")
    rt = server.runtime
    # The memory broker delivers synchronously: the writer gets no turn during this burst.
    for i in range(20):
        await rt.hub.publish(rt.apps.default, ["news"], "burst", f"{i:04d}" + "x" * 200)
    error = await client.next_event("pusher:error")
    assert error["data"]["code"] == 4100
    assert await client.closed_with() == 4100
    await wait_for_condition(lambda: rt.hub.connection_count(rt.apps.default.id) == 0, "forgotten")


async def test_no_signature_or_channel_data_in_logs(
    server: Server, raw_pusher: RawPusherFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = await raw_pusher.established(server)
    other = await raw_pusher.established(server)
    body = await channel_auth(server, other.socket_id, "presence-secretive", "s3cr3t-user")
    await client.subscribe(
        "presence-secretive", auth=body["auth"], channel_data=body["channel_data"]
    )
    await client.send("pusher:signin", {"auth": body["auth"], "user_data": '{"id":"zz"}'})
    await client.next_event("pusher:error")
    await client.send("client-\nforged log line", {"x": 1}, channel="presence-secretive")
    await client.next_event("pusher:error")
    text = caplog.text
    assert "refused pusher subscribe" in text
    assert body["auth"].split(":")[1] not in text
    assert body["channel_data"] not in text
    assert "forged log line" not in text


async def test_identity_required_and_quota_refusals(
    start_server: StartServer, raw_pusher: RawPusherFactory
) -> None:
    strict = await start_server(make_settings(require_identity=True))
    client = await raw_pusher(strict)
    error = await client.next()
    assert error["event"] == "pusher:error" and error["data"]["code"] == 4009
    assert await client.closed_with() == 4009

    small = await start_server(make_settings(limits=_limits(max_connections=1)))
    first = await raw_pusher.established(small)
    second = await raw_pusher(small)
    assert (await second.next())["data"]["code"] == 4004
    assert await second.closed_with() == 4004
    await first.send("pusher:ping", {})
    assert (await first.next())["event"] == "pusher:pong"
