"""No creep under churn: a short, bounded churn of connects, subscribes (public, private and
presence), publishes, client events, sign-ins, unsubscribes and disconnects (clean and
abrupt; Socket.IO over WebSocket and long-polling) on both transports, with webhooks on,
leaves every internal map of roomkey empty once the clients have gone
(``roomkey.internal_sizes``: webhook events waiting included), and, with Redis, no key of
this node's subscriptions, presence or registry entries beyond what a node with no clients
holds.

A behaviour, not a timing: the test waits (bounded) for the maps to empty and fails naming
what is left."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
import redis.asyncio as aioredis

from roomkey.config import RateLimits, Settings, WebhookSettings, WebhookTarget
from roomkey.internal_sizes import internal_sizes
from tests.support.apps import APP_ID, make_settings, make_token
from tests.support.authorize import authorized
from tests.support.backends import MEMORY_AND_REDIS, redis_settings
from tests.support.pusher import RawPusherFactory, channel_auth, user_auth
from tests.support.rest import signed_post
from tests.support.servers import Server, StartServer
from tests.support.socketio_client import ConnectClient
from tests.support.waiting import wait_for_condition
from tests.support.webhooks import webhook_target

ROUNDS = 3
PER_ROUND = 3  # clients of each transport per round
PRESENCE = "presence-churn"
PRIVATE = "private-churn"
PUBLIC = "public-churn"
# Windows that last their minute by design (address, user, app): not per connection.
LASTS_ITS_WINDOW = {"throttle.windows"}


def churn_settings(backend: str, request: pytest.FixtureRequest, webhook_url: str = "") -> Settings:
    targets = (WebhookTarget(webhook_url),) if webhook_url else ()
    # A short Engine.IO heartbeat: a long-polling client's disconnect waits for its poll.
    settings = make_settings(
        server={"ping_interval_seconds": 1.0, "ping_timeout_seconds": 5.0},
        authorized_connections_timeout=30,
        webhooks=targets,
    )
    settings = replace(
        settings,
        webhooks=WebhookSettings(batch_ms=20, leave_delay_seconds=0.2, max_backoff_seconds=0.05),
    )
    # Per-connection subscribe windows are on (they must go with their connection); the
    # address limits are high enough for every connect of the churn.
    settings = replace(
        settings,
        rate_limits=RateLimits(
            connections_per_minute_per_address=10_000,
            authorize_per_minute_per_address=10_000,
            authorize_per_minute_per_user=10_000,
            subscribes_per_minute_per_connection=600,
        ),
    )
    if backend == "redis":
        url = request.getfixturevalue("redis_server").url
        settings = replace(settings, redis=redis_settings(url))
    return settings


async def redis_keys(settings: Settings) -> set[str]:
    client = aioredis.from_url(settings.redis.url)
    try:
        return {k.decode() async for k in client.scan_iter(match=f"{settings.redis.prefix}:*")}
    finally:
        await client.aclose()


async def keys_that_stay(settings: Settings, keys: set[str]) -> list[str]:
    """Of ``keys``, those that would stay: anything but a node's own registration (which a
    node with no clients holds too: its heartbeat, connection counts, and the set of apps it
    has held entries in, one member per app, removed with the node), an app's webhook id
    sequence (one counter per app, never
    reset, so that ids are not reused) and rate windows, which expire with their window."""
    prefix = settings.redis.prefix
    client = aioredis.from_url(settings.redis.url)
    try:
        stay = []
        for key in sorted(keys):
            if key == f"{prefix}:nodes" or key.startswith(
                (f"{prefix}:node-conns:", f"{prefix}:node-apps:", f"{prefix}:webhook-seq:")
            ):
                continue
            if key.startswith(f"{prefix}:rate:") and await client.ttl(key) > 0:
                continue
            stay.append(key)
        return stay
    finally:
        await client.aclose()


def left_over(server: Server) -> dict[str, int]:
    return {
        name: n
        for name, n in internal_sizes(server.app).items()
        if n and name not in LASTS_ITS_WINDOW
    }


async def socketio_round(server: Server, connect: ConnectClient, rnd: int) -> None:
    clients = []
    for i in range(PER_ROUND):
        user = f"sio-{rnd}-{i % 2}"  # two connections of one user: members counted per user
        client = await connect(server, token=make_token(user, name=user))
        clients.append(client)
        assert await client.subscribe(PUBLIC) == {"channel": PUBLIC}
        body = await authorized(server, client.socket_id, PRIVATE, user)
        assert (await client.subscribe(PRIVATE, auth=body["auth"]))["channel"] == PRIVATE
        body = await authorized(server, client.socket_id, PRESENCE, user, name=user)
        ack = await client.subscribe(PRESENCE, auth=body["auth"], channel_data=body["channel_data"])
        assert "presence" in ack, ack
    await clients[0].call(
        "trigger", {"channel": PRIVATE, "event": "client-typing", "data": {"r": rnd}}
    )
    answer = await signed_post(
        server, f"/apps/{APP_ID}/events", {"name": "e", "channels": [PUBLIC, PRESENCE], "data": "x"}
    )
    assert answer.status == 200, answer.body
    await clients[-1].next("event")
    # One leaves its channels first, one disconnects holding them, one is dropped abruptly.
    for channel in (PUBLIC, PRIVATE, PRESENCE):
        assert await clients[0].call("unsubscribe", {"channel": channel}) == {"channel": channel}
    await clients[0].client.disconnect()
    await clients[1].client.disconnect()
    await clients[2].client.eio.disconnect(abort=True)
    if rnd == 0:
        # A long-polling session: python-engineio's own socket, not roomkey's direct one.
        polling = await connect(server, transports=["polling"])
        assert await polling.subscribe(PUBLIC) == {"channel": PUBLIC}
        await polling.client.disconnect()


async def pusher_round(server: Server, raw_pusher: RawPusherFactory, rnd: int) -> None:
    sockets = []
    for i in range(PER_ROUND):
        user = f"pusher-{rnd}-{i % 2}"
        ws = await raw_pusher.established(server)
        sockets.append(ws)
        signin = await user_auth(server, ws.socket_id, user)
        await ws.send("pusher:signin", signin)
        await ws.next_event("pusher:signin_success")
        frame = await ws.subscribe(PUBLIC)
        assert frame["event"] == "pusher_internal:subscription_succeeded", frame
        body = await channel_auth(server, ws.socket_id, PRESENCE, user)
        frame = await ws.subscribe(PRESENCE, **body)
        assert frame["event"] == "pusher_internal:subscription_succeeded", frame
    await sockets[0].send("client-typing", {"r": rnd}, channel=PRESENCE)
    answer = await signed_post(
        server, f"/apps/{APP_ID}/events", {"name": "e", "channel": PRESENCE, "data": "y"}
    )
    assert answer.status == 200, answer.body
    await sockets[-1].next_event("e")
    await sockets[0].send("pusher:unsubscribe", {"channel": PRESENCE})
    await sockets[0].send("pusher:unsubscribe", {"channel": PUBLIC})
    await sockets[0].ws.close()
    await sockets[1].ws.close()
    # Subscribing, then gone before the answer: the subscribe's work must not outlive it.
    body = await channel_auth(server, sockets[2].socket_id, f"{PRESENCE}-late", "late")
    await sockets[2].send("pusher:subscribe", {"channel": f"{PRESENCE}-late", **body})
    await sockets[2].ws.close()


@pytest.mark.parametrize("backend", MEMORY_AND_REDIS)
async def test_every_internal_map_is_empty_after_a_churn(
    backend: str,
    request: pytest.FixtureRequest,
    start_server: StartServer,
    connect: ConnectClient,
    raw_pusher: RawPusherFactory,
) -> None:
    async with webhook_target() as target:
        settings = churn_settings(backend, request, target.url())
        server = await start_server(settings)
        await churn_and_check(backend, settings, server, connect, raw_pusher)
        assert not target.bodies.empty()  # the webhooks were sent, not only dropped


async def churn_and_check(
    backend: str,
    settings: Settings,
    server: Server,
    connect: ConnectClient,
    raw_pusher: RawPusherFactory,
) -> None:
    keys_before = await redis_keys(settings) if backend == "redis" else set()
    # A watcher joined throughout: member events and publishes reach someone each round.
    watcher = await connect(server, token=make_token("watcher", name="watcher"))
    body = await authorized(server, watcher.socket_id, PRESENCE, "watcher", name="watcher")
    await watcher.subscribe(PRESENCE, auth=body["auth"], channel_data=body["channel_data"])
    for rnd in range(ROUNDS):
        await asyncio.gather(
            socketio_round(server, connect, rnd), pusher_round(server, raw_pusher, rnd)
        )
    sizes = internal_sizes(server.app)
    assert sizes["hub.connections"] >= 1 and sizes["hub.subscriptions"] >= 1, sizes
    await watcher.client.disconnect()

    try:
        await wait_for_condition(lambda: not left_over(server), "every internal map to empty")
    except AssertionError:
        raise AssertionError(f"maps not empty after the churn: {left_over(server)}") from None
    # The libraries' own session maps and the backend's maps are among those checked.
    names = internal_sizes(server.app).keys()
    assert {"socketio.rooms", "socketio.environ", "engineio.sockets"} <= names
    assert ("presence.node_entries" if backend == "redis" else "presence.members") in names
    if backend == "redis":
        assert "broker.listened" in names

        async def staying() -> list[str]:
            return await keys_that_stay(settings, await redis_keys(settings) - keys_before)

        async def no_keys_stay() -> bool:
            return not await staying()

        try:
            await wait_for_condition(no_keys_stay, "this node's Redis keys back to before")
        except AssertionError:
            raise AssertionError(f"Redis keys left after the churn: {await staying()}") from None
