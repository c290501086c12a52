"""``performance.relay_frames``: a node publishes each message with its wire forms built, and the
other nodes send those as they are. What clients receive must not change: on a node that
relays, every subscriber (Socket.IO and Pusher protocol, over real sockets) gets exactly the
bytes a subscriber on the publishing node gets, each message once, in publish order, the
excluded socket nothing; member events cross nodes too; and nodes that relay and nodes that
do not understand each other (a cluster changing the setting node by node)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
import redis.asyncio as aioredis

from roomkey.config import PerformanceSettings
from roomkey.redis_keys import RedisKeys
from tests.support.apps import APP_ID, make_settings, make_token
from tests.support.backends import redis_settings
from tests.support.pusher import RawPusher, RawPusherFactory
from tests.support.raw_socketio import RawSocketIO, raw_connected
from tests.support.redis_server import RedisServer
from tests.support.rest import signed_post
from tests.support.servers import Server, StartServer
from tests.support.socketio_client import ConnectClient
from tests.support.waiting import wait_for_condition

pytestmark = [pytest.mark.redis]

CHANNEL = "public-relay"
# The REST API takes data as a string (JSON-encoded objects included), passed on exactly.
PAYLOADS: list[str] = [
    "plain",
    json.dumps({"nested": {"list": [1, 2.5, None, True]}, "text": "é ✓ 😀", "q": 'a"b\\c'}),
    "line one\nline two\r\n",
    json.dumps([1, "two"], ensure_ascii=False),
    "12345678901234567890",
]


async def nodes(
    start_server: StartServer, url: str, relay_a: bool, relay_b: bool
) -> tuple[Server, Server]:
    base = replace(make_settings(), redis=redis_settings(url))
    a = await start_server(replace(base, performance=PerformanceSettings(relay_frames=relay_a)))
    b = await start_server(replace(base, performance=PerformanceSettings(relay_frames=relay_b)))
    await wait_for_condition(
        lambda: a.runtime.hub.broker.ready and b.runtime.hub.broker.ready, "both brokers ready"
    )
    return a, b


async def sio_subscriber(server: Server) -> tuple[RawSocketIO, str]:
    raw, socket_id = await raw_connected(server)
    raw.send('420["subscribe",{"channel":"' + CHANNEL + '"}]')
    assert "error" not in await raw.recv_until("430")
    return raw, socket_id


async def pusher_subscriber(server: Server, raw_pusher: RawPusherFactory) -> RawPusher:
    ws = await raw_pusher.established(server)
    frame = await ws.subscribe(CHANNEL)
    assert frame["event"] == "pusher_internal:subscription_succeeded", frame
    return ws


async def sio_texts(raw: RawSocketIO, n: int) -> list[str]:
    return [await raw.recv_until('42["event"') for _ in range(n)]


async def pusher_texts(ws: RawPusher, n: int) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        msg = await ws.ws.receive(timeout=5)
        assert isinstance(msg.data, str), msg
        if json.loads(msg.data).get("channel") == CHANNEL:
            out.append(msg.data)
    return out


@pytest.mark.parametrize(
    ("relay_a", "relay_b"),
    [(True, True), (True, False), (False, True)],
    ids=["both-relay", "publisher-relays", "listener-relays"],
)
async def test_relayed_deliveries_are_the_publishers_bytes_once_in_order(
    relay_a: bool,
    relay_b: bool,
    start_server: StartServer,
    raw_pusher: RawPusherFactory,
    redis_server: RedisServer,
) -> None:
    a, b = await nodes(start_server, redis_server.url, relay_a, relay_b)
    raws: list[RawSocketIO] = []
    try:
        await relay_and_compare(a, b, raw_pusher, raws)
    finally:
        for raw in raws:
            raw.close()


async def relay_and_compare(
    a: Server, b: Server, raw_pusher: RawPusherFactory, raws: list[RawSocketIO]
) -> None:
    sio_a, _ = await sio_subscriber(a)
    sio_b, _ = await sio_subscriber(b)
    sio_b_excluded, excluded = await sio_subscriber(b)
    raws += [sio_a, sio_b, sio_b_excluded]
    pusher_a = await pusher_subscriber(a, raw_pusher)
    pusher_b = await pusher_subscriber(b, raw_pusher)
    for i, data in enumerate(PAYLOADS):
        body: dict[str, Any] = {"name": f"e{i}", "channel": CHANNEL, "data": data}
        if i % 2:
            body["socket_id"] = excluded
        answer = await signed_post(a, f"/apps/{APP_ID}/events", body)
        assert answer.status == 200, answer.body
    n = len(PAYLOADS)
    assert await sio_texts(sio_b, n) == await sio_texts(sio_a, n)
    assert await pusher_texts(pusher_b, n) == await pusher_texts(pusher_a, n)
    # The excluded socket got only the messages that did not exclude it, in order.
    kept = [json.loads(t[2:])[1]["event"] for t in await sio_texts(sio_b_excluded, (n + 1) // 2)]
    assert kept == [f"e{i}" for i in range(0, n, 2)]
    # Exactly once: a marker published after the rest is the next thing everyone receives.
    await signed_post(a, f"/apps/{APP_ID}/events", {"name": "end", "channel": CHANNEL, "data": "0"})
    for raw in (sio_a, sio_b, sio_b_excluded):
        assert json.loads((await raw.recv_until("42["))[2:])[1]["event"] == "end"
    for ws in (pusher_a, pusher_b):
        assert json.loads((await pusher_texts(ws, 1))[0])["event"] == "end"


async def test_member_events_and_client_events_are_relayed(
    start_server: StartServer, connect: ConnectClient, redis_server: RedisServer
) -> None:
    a, b = await nodes(start_server, redis_server.url, True, True)
    watcher = await connect(b, token=make_token("w", name="Watcher"))
    await watcher.subscribe("presence-relay")
    joiner = await connect(a, token=make_token("j", name="Joiner"))
    await joiner.subscribe("presence-relay")
    assert await watcher.next("member_added") == {
        "channel": "presence-relay",
        "user_id": "j",
        "user_info": {"name": "Joiner"},
    }
    assert (
        await joiner.call(
            "trigger", {"channel": "presence-relay", "event": "client-hi", "data": {"x": 1}}
        )
        == {}
    )
    assert await watcher.next("event") == {
        "channel": "presence-relay",
        "event": "client-hi",
        "data": {"x": 1},
        "user_id": "j",
    }
    await joiner.nothing("event", within=0.1)
    await joiner.client.disconnect()
    assert await watcher.next("member_removed") == {"channel": "presence-relay", "user_id": "j"}


async def test_a_malformed_relayed_message_is_dropped_and_counted(
    start_server: StartServer, connect: ConnectClient, redis_server: RedisServer
) -> None:
    _, b = await nodes(start_server, redis_server.url, True, True)
    client = await connect(b)
    await client.subscribe(CHANNEL)
    name = RedisKeys(b.runtime.settings.redis.prefix).events(APP_ID, CHANNEL)
    redis = aioredis.from_url(redis_server.url)
    try:
        await redis.publish(name, b"R1\nsomeone\n\nonly-three-fields")
    finally:
        await redis.aclose()
    broker = b.runtime.hub.broker
    await wait_for_condition(lambda: broker.stats().dropped_malformed == 1, "the drop counted")
    await client.nothing("event", within=0.1)
