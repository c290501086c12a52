"""Webhook timing as Pusher's: ``member_removed`` and ``channel_vacated`` wait
``leave_delay_seconds`` and a member or channel back within it fires nothing (a page reload,
on either transport, on one node or across two over Redis); a leave that lasts fires once.

Absence is shown without sleeping: after the reload, a marker channel is occupied and left;
its ``channel_vacated`` is held for the same window and comes due after anything the reload
could have fired, so once the receiver has it, it would have had those too."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import pytest

from roomkey.config import Settings, WebhookSettings, WebhookTarget
from tests.support.apps import make_settings
from tests.support.backends import redis_settings
from tests.support.pusher import RawPusherFactory, channel_auth
from tests.support.redis_server import RedisServer
from tests.support.rest import join
from tests.support.servers import Server, StartServer
from tests.support.socketio_client import ConnectClient, SioClient
from tests.support.waiting import wait_for_condition
from tests.support.webhooks import WebhookEndpoint, webhook_target

DELAY = 1.0  # long enough for a re-join under load, short enough for a quick test
MARKER = "public-marker"


def timed_settings(url: str, redis_url: str = "") -> Settings:
    base = make_settings(webhooks=(WebhookTarget(url),))
    hooks = WebhookSettings(batch_ms=20, leave_delay_seconds=DELAY, max_backoff_seconds=0.05)
    settings = replace(base, webhooks=hooks)
    return replace(settings, redis=redis_settings(redis_url)) if redis_url else settings


async def events_until(
    target: WebhookEndpoint, last: dict[str, Any], timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Every event the receiver gets, up to and including ``last``."""
    events: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while last not in events:
        body = await asyncio.wait_for(target.bodies.get(), max(0.01, deadline - loop.time()))
        events.extend(json.loads(body)["events"])
    return events


async def marked(target: WebhookEndpoint, client: SioClient) -> list[dict[str, Any]]:
    """Occupy and leave the marker channel; every event up to its ``channel_vacated``, the
    marker's own events left out."""
    await client.subscribe(MARKER)
    await client.call("unsubscribe", {"channel": MARKER})
    events = await events_until(target, {"name": "channel_vacated", "channel": MARKER})
    return [e for e in events if e.get("channel") != MARKER]


def joined(channel: str, user_id: str) -> list[dict[str, Any]]:
    return [
        {"name": "channel_occupied", "channel": channel},
        {"name": "member_added", "channel": channel, "user_id": user_id},
    ]


async def test_a_socketio_reload_within_the_window_fires_nothing(
    start_server: StartServer, connect: ConnectClient
) -> None:
    async with webhook_target() as target:
        server = await start_server(timed_settings(target.url()))
        page = await connect(server)
        await join(page, server, "presence-reload", "u1")
        assert await events_until(target, joined("presence-reload", "u1")[1]) == joined(
            "presence-reload", "u1"
        )
        reloaded, marker = await connect(server), await connect(server)
        await page.client.disconnect()
        await join(reloaded, server, "presence-reload", "u1")
        assert await marked(target, marker) == []
        dispatcher = server.runtime.hub.webhooks
        assert getattr(dispatcher, "absorbed") == 2  # noqa: B009 (the sink's type is a Protocol)


async def test_a_target_that_wants_only_joins_hears_no_join_on_a_reload(
    start_server: StartServer, connect: ConnectClient
) -> None:
    """The leave a target does not want is still held, so the re-join it absorbs is not sent
    as a second ``member_added``."""
    async with webhook_target() as target:
        settings = timed_settings(target.url())
        only_joins = WebhookTarget(target.url(), ("member_added", "channel_vacated"))
        settings = replace(settings, apps=(replace(settings.apps[0], webhooks=(only_joins,)),))
        server = await start_server(settings)
        page = await connect(server)
        await join(page, server, "presence-reload", "u1")
        added = joined("presence-reload", "u1")[1]
        assert await events_until(target, added) == [added]
        reloaded, marker = await connect(server), await connect(server)
        await page.client.disconnect()
        await join(reloaded, server, "presence-reload", "u1")
        assert await marked(target, marker) == []


async def test_a_pusher_reload_within_the_window_fires_nothing(
    start_server: StartServer, connect: ConnectClient, raw_pusher: RawPusherFactory
) -> None:
    async with webhook_target() as target:
        server = await start_server(timed_settings(target.url()))
        page = await raw_pusher.established(server)
        auth = await channel_auth(server, page.socket_id, "presence-reload", "7")
        await page.subscribe("presence-reload", **auth)
        await events_until(target, joined("presence-reload", "7")[1])
        reloaded = await raw_pusher.established(server)
        marker = await connect(server)
        await page.ws.close()
        await wait_for_condition(lambda: len(server.runtime.hub.connections) == 2, "page gone")
        auth = await channel_auth(server, reloaded.socket_id, "presence-reload", "7")
        ok = await reloaded.subscribe("presence-reload", **auth)
        assert ok["event"] == "pusher_internal:subscription_succeeded"
        assert await marked(target, marker) == []


async def test_a_leave_that_lasts_fires_once_after_the_window(
    start_server: StartServer, connect: ConnectClient
) -> None:
    async with webhook_target() as target:
        server = await start_server(timed_settings(target.url()))
        page, other = await connect(server), await connect(server)
        await join(page, server, "presence-gone", "u1")
        await join(other, server, "presence-gone", "u2")
        await events_until(target, joined("presence-gone", "u2")[1])
        await page.client.disconnect()
        removed = {"name": "member_removed", "channel": "presence-gone", "user_id": "u1"}
        assert await events_until(target, removed) == [removed]
        await other.call("unsubscribe", {"channel": "presence-gone"})
        gone = [
            {"name": "channel_vacated", "channel": "presence-gone"},
            {"name": "member_removed", "channel": "presence-gone", "user_id": "u2"},
        ]
        events = await events_until(target, gone[1])
        # The user joins again after the window: a new member, sent as such.
        await join(other, server, "presence-gone", "u2")
        events += await marked(target, other)
        assert events == [*gone, *joined("presence-gone", "u2")]


@pytest.mark.redis
async def test_a_reload_onto_another_node_fires_nothing(
    start_server: StartServer, connect: ConnectClient, redis_server: RedisServer
) -> None:
    async with webhook_target() as target:
        settings = timed_settings(target.url(), redis_server.url)
        a = await start_server(settings)
        b = await start_server(settings)
        nodes: list[Server] = [a, b]
        await wait_for_condition(
            lambda: all(n.runtime.hub.broker.ready for n in nodes), "both brokers ready"
        )
        page = await connect(a)
        await join(page, a, "presence-moved", "u1")
        await events_until(target, joined("presence-moved", "u1")[1])
        reloaded, marker = await connect(b), await connect(b)
        await page.client.disconnect()
        await join(reloaded, b, "presence-moved", "u1")
        # The marker is left on the other node: both nodes' claims come before it.
        assert await marked(target, marker) == []
