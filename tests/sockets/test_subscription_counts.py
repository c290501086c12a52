"""Subscription counts on both transports (docs/protocol.md, "Subscription counts"): apps
with ``subscription_count`` tell subscribers of non-presence channels the channel's count
when it changes, one message per burst, with a ``subscription_count`` webhook; apps without
it, and presence channels, hear nothing."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

from roomkey.config import WebhookSettings, WebhookTarget
from tests.support.apps import make_settings, make_token
from tests.support.pusher import RawPusherFactory
from tests.support.servers import StartServer
from tests.support.socketio_client import ConnectClient
from tests.support.webhooks import webhook_target

COUNTING: dict[str, Any] = {"subscription_count": True, "subscription_count_interval_seconds": 0.1}


async def test_socketio_counts_rise_and_fall_coalesced(
    start_server: StartServer, connect: ConnectClient
) -> None:
    # An interval long enough that the burst below falls inside one, however busy the machine.
    server = await start_server(
        make_settings(**{**COUNTING, "subscription_count_interval_seconds": 0.5})
    )
    watcher = await connect(server)
    await watcher.subscribe("ticker")
    assert await watcher.next("subscription_count") == {
        "channel": "ticker",
        "subscription_count": 1,
    }
    # A burst of three joins is one message with the final count.
    others = [await connect(server) for _ in range(3)]
    await asyncio.gather(*(c.subscribe("ticker") for c in others))
    assert await watcher.next("subscription_count") == {
        "channel": "ticker",
        "subscription_count": 4,
    }
    await watcher.nothing("subscription_count", within=0.3)
    await others[0].call("unsubscribe", {"channel": "ticker"})
    await others[1].client.disconnect()
    assert (await watcher.next("subscription_count"))["subscription_count"] == 2


async def test_presence_channels_and_apps_without_the_setting_hear_nothing(
    start_server: StartServer, connect: ConnectClient
) -> None:
    counting = await start_server(make_settings(**COUNTING))
    member = await connect(counting, token=make_token("3"))
    await member.subscribe("presence-room")
    await member.nothing("subscription_count", within=0.3)

    quiet = await start_server(make_settings())
    client = await connect(quiet)
    await client.subscribe("ticker")
    await client.nothing("subscription_count", within=0.3)


async def test_pusher_protocol_subscription_count(
    start_server: StartServer, raw_pusher: RawPusherFactory
) -> None:
    server = await start_server(make_settings(**COUNTING))
    client = await raw_pusher.established(server)
    await client.subscribe("ticker")
    frame = await client.next_event("pusher_internal:subscription_count")
    assert frame == {
        "event": "pusher_internal:subscription_count",
        "channel": "ticker",
        "data": '{"subscription_count":1}',
    }


async def test_subscription_count_webhook(
    start_server: StartServer, connect: ConnectClient
) -> None:
    async with webhook_target() as target:
        settings = replace(
            make_settings(
                webhooks=(WebhookTarget(target.url(), ("subscription_count",)),), **COUNTING
            ),
            webhooks=WebhookSettings(batch_ms=20),
        )
        server = await start_server(settings)
        client = await connect(server)
        await client.subscribe("ticker")
        body = json.loads(await asyncio.wait_for(target.bodies.get(), 5))
        assert body["events"] == [
            {"name": "subscription_count", "channel": "ticker", "subscription_count": 1}
        ]
