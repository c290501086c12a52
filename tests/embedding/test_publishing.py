"""The handle's publishing and reading (``roomkey.Roomkey``), on memory and on a real
redis-server: real Socket.IO and Pusher-protocol clients receive what the handle publishes,
and what the handle reads is what those clients did."""

from __future__ import annotations

import json
from dataclasses import replace

import aiohttp
import pytest
from aiohttp import web

import roomkey
from tests.embedding.conftest import StartHost, one_app_settings
from tests.support.apps import OTHER_APP, make_settings, make_token
from tests.support.pusher import RawPusherFactory, channel_auth, user_auth
from tests.support.socketio_client import ConnectClient
from tests.support.waiting import wait_for_condition


async def test_publish_to_one_and_many_channels_excluding_a_socket(
    start_host: StartHost,
    backend_settings: roomkey.Settings,
    connect: ConnectClient,
    raw_pusher: RawPusherFactory,
) -> None:
    host = await start_host(backend_settings)
    a = await connect(host.server, token=make_token("7"))
    b = await connect(host.server, token=make_token("8"))
    for client in (a, b):
        assert await client.subscribe("private-news") == {"channel": "private-news"}
    assert await b.subscribe("private-other") == {"channel": "private-other"}
    p = await raw_pusher.established(host.server)
    signed = await channel_auth(host.server, p.socket_id, "private-news")
    joined = await p.subscribe("private-news", auth=signed["auth"])
    assert joined["event"] == "pusher_internal:subscription_succeeded"

    # One channel; data that is not a string is sent JSON-encoded.
    await host.handle.publish("private-news", "posted", {"id": 1})
    for client in (a, b):
        got = await client.next("event")
        assert (got["channel"], got["event"], got["data"]) == ("private-news", "posted", '{"id":1}')
    frame = await p.next_event("posted")
    assert (frame["channel"], json.loads(frame["data"])) == ("private-news", {"id": 1})

    # Two channels, the sender's socket left out: b hears neither, a and p their one channel.
    await host.handle.publish(
        ["private-news", "private-other"], "edited", "text", exclude_socket_id=b.socket_id
    )
    got = await a.next("event")
    assert (got["channel"], got["event"], got["data"]) == ("private-news", "edited", "text")
    assert (await p.next_event("edited"))["data"] == "text"
    await b.nothing("event")

    # A batch, each event on its own channel, each with its own exclusion.
    await host.handle.publish_batch(
        [
            roomkey.BatchEvent("private-other", "first", "1"),
            roomkey.BatchEvent("private-news", "second", "2", exclude_socket_id=a.socket_id),
        ]
    )
    assert [(await b.next("event"))["event"] for _ in range(2)] == ["first", "second"]
    assert (await p.next_event("second"))["data"] == "2"
    await a.nothing("event")


async def test_reading_channels_counts_and_members(
    start_host: StartHost, backend_settings: roomkey.Settings, connect: ConnectClient
) -> None:
    host = await start_host(backend_settings)
    ada = await connect(host.server, token=make_token("7", name="Ada"))
    ada_again = await connect(host.server, token=make_token("7", name="Ada"))
    bo = await connect(host.server, token=make_token("8", name="Bo"))
    for client in (ada, ada_again, bo):
        assert (await client.subscribe("presence-room"))["channel"] == "presence-room"
    assert await ada.subscribe("private-news") == {"channel": "private-news"}

    handle = host.handle
    assert await handle.channels() == {
        "presence-room": roomkey.ChannelInfo(True, 3, 2),
        "private-news": roomkey.ChannelInfo(True, 1, None),
    }
    assert list(await handle.channels(prefix="presence-")) == ["presence-room"]
    assert await handle.channel("private-news") == roomkey.ChannelInfo(True, 1, None)
    assert await handle.channel("private-nobody") == roomkey.ChannelInfo(False, 0, None)
    assert await handle.channel("presence-nobody") == roomkey.ChannelInfo(False, 0, 0)
    members = sorted(await handle.members("presence-room"), key=lambda m: m.user_id)
    assert members == [roomkey.Member("7", {"name": "Ada"}), roomkey.Member("8", {"name": "Bo"})]
    with pytest.raises(roomkey.BadRequest):
        await handle.members("private-news")
    with pytest.raises(roomkey.BadRequest):
        await handle.channel("bad name!")

    await bo.client.disconnect()
    await wait_for_condition(
        lambda: _users(handle, "presence-room", 1), "bo gone from the presence channel"
    )
    assert await handle.members("presence-room") == [roomkey.Member("7", {"name": "Ada"})]


async def _users(handle: roomkey.Roomkey, channel: str, count: int) -> bool:
    return (await handle.channel(channel)).user_count == count


async def test_send_to_a_user_and_terminate_a_user(
    start_host: StartHost, backend_settings: roomkey.Settings, connect: ConnectClient
) -> None:
    host = await start_host(backend_settings)
    signed_in = await connect(host.server)
    body = await user_auth(host.server, signed_in.socket_id, "u1")
    assert await signed_in.call("signin", body) == {"user_data": body["user_data"]}
    other = await connect(host.server, token=make_token("u2"))

    await host.handle.send_to_user("u1", "notice", {"unread": 3})
    got = await signed_in.next("event")
    assert (got["event"], got["data"]) == ("notice", '{"unread":3}')
    await other.nothing("event")

    await host.handle.terminate_user("u2")
    await other.wait_disconnected()
    assert signed_in.client.connected
    await host.handle.terminate_user("u1")
    await signed_in.wait_disconnected()


async def test_refused_calls_publish_nothing(start_host: StartHost, connect: ConnectClient) -> None:
    host = await start_host()
    handle = host.handle
    client = await connect(host.server, token=make_token("7"))
    assert await client.subscribe("private-news") == {"channel": "private-news"}
    limit = one_app_settings().apps[0].limits

    with pytest.raises(roomkey.PayloadTooLarge):
        await handle.publish("private-news", "big", "x" * (limit.max_event_data_bytes + 1))
    with pytest.raises(roomkey.BadRequest):
        await handle.publish("private-news", "pusher:internal", "x")
    with pytest.raises(roomkey.LimitExceeded):
        names = [f"private-{i}" for i in range(limit.max_channels_per_trigger + 1)]
        await handle.publish(names, "many", "x")
    with pytest.raises(roomkey.BadRequest):
        await handle.publish(["private-encrypted-a", "private-news"], "mixed", "x")
    with pytest.raises(roomkey.BadRequest):
        await handle.publish("private-news", "e", "x", exclude_socket_id="not-a-socket-id")
    with pytest.raises(roomkey.BadRequest):
        await handle.publish("private-news", "e", object())
    with pytest.raises(roomkey.BadRequest):
        # Checked as a whole before anything is published.
        await handle.publish_batch(
            [
                roomkey.BatchEvent("private-news", "fine", "1"),
                roomkey.BatchEvent("bad name!", "refused", "2"),
            ]
        )
    with pytest.raises(roomkey.UnknownApp):
        await handle.publish("private-news", "e", "x", app="no-such-app")
    await client.nothing("event")


async def test_several_apps_are_named_by_id_or_key(
    start_host: StartHost, connect: ConnectClient
) -> None:
    host = await start_host(make_settings())  # the test app and OTHER_APP
    client = await connect(host.server, key=OTHER_APP.key)
    assert await client.subscribe("public-room") == {"channel": "public-room"}
    with pytest.raises(roomkey.BadRequest, match="several apps"):
        await host.handle.publish("public-room", "e", "x")
    await host.handle.publish("public-room", "by-id", "x", app=OTHER_APP.id)
    await host.handle.publish("public-room", "by-key", "x", app=OTHER_APP.key)
    assert [(await client.next("event"))["event"] for _ in range(2)] == ["by-id", "by-key"]
    assert list(await host.handle.channels(app=OTHER_APP.id)) == ["public-room"]


async def test_request_handlers_reach_the_handle(
    start_host: StartHost, connect: ConnectClient
) -> None:
    async def post_news(request: web.Request) -> web.Response:
        await roomkey.Roomkey.of(request).publish("private-news", "posted", await request.text())
        return web.Response(text="ok")

    host = await start_host(build=lambda app: app.router.add_post("/news", post_news))
    assert roomkey.Roomkey.of(host.server.app) is host.handle
    client = await connect(host.server, token=make_token("7"))
    assert await client.subscribe("private-news") == {"channel": "private-news"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{host.server.url}/news", data="hello") as resp:
            assert resp.status == 200
    assert (await client.next("event"))["data"] == "hello"


async def test_the_handle_needs_a_running_application() -> None:
    app = web.Application()
    handle = roomkey.setup(app, one_app_settings())
    assert not handle.running
    with pytest.raises(roomkey.ServiceUnavailable):
        await handle.publish("private-news", "e", "x")
    with pytest.raises(LookupError):
        roomkey.Roomkey.of(web.Application())
    with pytest.raises(RuntimeError, match="already set up"):
        roomkey.setup(app, replace(one_app_settings()))
