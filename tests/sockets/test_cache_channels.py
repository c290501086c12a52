"""Cache channels on both transports (docs/protocol.md, "Cache channels"): the last event a
server published is handed to each new subscriber right after its subscription succeeded,
an empty cache is ``cache_miss`` (and a ``cache_miss`` webhook), client events are relayed
but never cached, and the cache expires after the app's ``cache_ttl_seconds``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from dataclasses import replace

from roomkey.config import WebhookSettings, WebhookTarget
from tests.support.apps import make_settings, make_token
from tests.support.pusher import RawPusherFactory, channel_auth
from tests.support.raw_socketio import raw_connected
from tests.support.servers import Server, StartServer
from tests.support.socketio_client import ConnectClient
from tests.support.waiting import wait_for_condition
from tests.support.webhooks import webhook_target


async def _publish(server: Server, channel: str, event: str, data: str) -> None:
    rt = server.runtime
    await rt.hub.publish(rt.apps.default, [channel], event, data)


async def test_socketio_cache_miss_then_hit(server: Server, connect: ConnectClient) -> None:
    first = await connect(server)
    assert await first.subscribe("cache-score") == {"channel": "cache-score"}
    assert await first.next("cache_miss") == {"channel": "cache-score"}
    await first.nothing("event", within=0.1)

    await _publish(server, "cache-score", "goal", '{"home":1}')
    assert (await first.next("event"))["data"] == '{"home":1}'
    await _publish(server, "cache-score", "goal", '{"home":2}')
    await first.next("event")

    late = await connect(server)
    assert await late.subscribe("cache-score") == {"channel": "cache-score"}
    assert await late.next("event") == {
        "channel": "cache-score",
        "event": "goal",
        "data": '{"home":2}',
    }
    await late.nothing("cache_miss", within=0.1)
    # An ordinary channel of the same name but for the prefix caches nothing.
    plain = await connect(server)
    await plain.subscribe("score")
    await plain.nothing("cache_miss", within=0.1)


async def test_socketio_cached_event_follows_the_acknowledgement(server: Server) -> None:
    await _publish(server, "cache-order", "state", "on")
    raw, _ = await raw_connected(server)
    try:
        raw.send('427["subscribe",{"channel":"cache-order"}]')
        ack = await raw.recv_until("437")
        assert json.loads(ack[3:]) == [{"channel": "cache-order"}]
        cached = await raw.recv_until('42["event"')
        assert json.loads(cached[2:])[1]["data"] == "on"
    finally:
        raw.close()


async def test_private_and_presence_cache_channels_need_auth_and_replay(
    server: Server, connect: ConnectClient
) -> None:
    await _publish(server, "private-cache-room", "state", "p")
    await _publish(server, "presence-cache-room", "state", "q")
    anonymous = await connect(server)
    refused = await anonymous.subscribe("private-cache-room")
    assert refused["error"]["code"] == 4009

    signed = await connect(server)
    body = await channel_auth(server, signed.socket_id, "private-cache-room")
    assert await signed.subscribe("private-cache-room", auth=body["auth"]) == {
        "channel": "private-cache-room"
    }
    assert (await signed.next("event"))["data"] == "p"

    member = await connect(server, token=make_token("9", name="Nine"))
    ack = await member.subscribe("presence-cache-room")
    assert ack["presence"]["ids"] == ["9"]
    assert (await member.next("event"))["data"] == "q"


async def test_client_events_are_relayed_not_cached(server: Server, connect: ConnectClient) -> None:
    token = make_token("5")
    a = await connect(server, token=token)
    b = await connect(server, token=token)
    for c in (a, b):
        await c.subscribe("private-cache-chat")
        assert await c.next("cache_miss") == {"channel": "private-cache-chat"}
    answer = await a.call(
        "trigger", {"channel": "private-cache-chat", "event": "client-typing", "data": {}}
    )
    assert answer == {}
    assert (await b.next("event"))["event"] == "client-typing"
    late = await connect(server, token=token)
    await late.subscribe("private-cache-chat")
    assert await late.next("cache_miss") == {"channel": "private-cache-chat"}


async def test_pusher_protocol_cache_hit_and_miss(
    server: Server, raw_pusher: RawPusherFactory
) -> None:
    client = await raw_pusher.established(server)
    answer = await client.subscribe("cache-weather")
    assert answer["event"] == "pusher_internal:subscription_succeeded"
    assert await client.next() == {"event": "pusher:cache_miss", "channel": "cache-weather"}

    await _publish(server, "cache-weather", "sunny", '{"c":21}')
    await client.next_event("sunny")
    other = await raw_pusher.established(server)
    await other.subscribe("cache-weather")
    assert await other.next() == {
        "event": "sunny",
        "channel": "cache-weather",
        "data": '{"c":21}',
    }


async def test_cache_expires_after_the_apps_ttl(
    start_server: StartServer, connect: ConnectClient
) -> None:
    server = await start_server(make_settings(cache_ttl_seconds=1.0))
    await _publish(server, "cache-brief", "x", "1")
    fresh = await connect(server)
    await fresh.subscribe("cache-brief")
    assert (await fresh.next("event"))["data"] == "1"
    cache = server.runtime.hub.cached.cache
    app_id = server.runtime.apps.default.id
    await wait_for_condition(
        lambda: _gone(cache.get(app_id, "cache-brief")), "the cached event to expire"
    )
    late = await connect(server)
    await late.subscribe("cache-brief")
    assert await late.next("cache_miss") == {"channel": "cache-brief"}


async def _gone(pending: Awaitable[object]) -> bool:
    return await pending is None


async def test_cache_miss_webhook_once_per_empty_channel(
    start_server: StartServer, connect: ConnectClient
) -> None:
    async with webhook_target() as target:
        settings = replace(
            make_settings(webhooks=(WebhookTarget(target.url(), ("cache_miss",)),)),
            webhooks=WebhookSettings(batch_ms=20),
        )
        server = await start_server(settings)
        # Three subscribers miss; the app is asked once (as Pusher de-duplicates), each
        # subscriber is told.
        clients = [await connect(server) for _ in range(3)]
        for client in clients:
            await client.subscribe("cache-empty")
            await client.next("cache_miss")
        other = await connect(server)
        await other.subscribe("cache-other")
        await other.next("cache_miss")
        events: list[dict[str, object]] = []
        while not any(e["channel"] == "cache-other" for e in events):
            events += json.loads(await asyncio.wait_for(target.bodies.get(), 5))["events"]
        assert events == [
            {"name": "cache_miss", "channel": "cache-empty"},
            {"name": "cache_miss", "channel": "cache-other"},
        ]
