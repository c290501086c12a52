"""Hooks with the webhooks' timing: ``member_removed`` and ``channel_vacated`` wait
``[webhooks] leave_delay_seconds`` and a member or channel back within it fires no hook (a
page reload, on one node, or back on another node over a real redis-server); a leave that
lasts fires once in the cluster, after the window; client events and connections are not
held. Absence is shown without sleeping, by a marker channel (``conftest.marked``)."""

from __future__ import annotations

from dataclasses import replace

import pytest

import roomkey
from roomkey.hook_relay import HookRelay
from tests.embedding.conftest import (
    CHANNEL_KINDS,
    Host,
    Recorded,
    StartHost,
    hooks_settings,
    marked,
)
from tests.support.apps import make_token
from tests.support.backends import redis_settings
from tests.support.redis_server import RedisServer
from tests.support.socketio_client import ConnectClient
from tests.support.waiting import wait_for_condition

DELAY = 1.0  # long enough for a re-join under load, short enough for a quick test


def recording(*hosts: Host) -> Recorded:
    """One recorder of the channel and member kinds for every node: duplicates would show."""
    recorded = Recorded()
    for host in hosts:
        for kind in CHANNEL_KINDS:
            host.handle.on(kind, recorded)
    return recorded


def kinds(events: list[roomkey.HookEvent]) -> list[tuple[str, str | None, str | None]]:
    return [(e.kind, e.channel, e.user_id) for e in events]


def joined(channel: str, user_id: str) -> list[tuple[str, str | None, str | None]]:
    return [("channel_occupied", channel, None), ("member_added", channel, user_id)]


def absorbed(host: Host) -> int:
    relay = host.server.runtime.hub.hooks
    assert isinstance(relay, HookRelay)
    return relay.absorbed


async def test_a_reload_within_the_window_fires_no_hook(
    start_host: StartHost, connect: ConnectClient
) -> None:
    host = await start_host(hooks_settings(DELAY))
    recorded = recording(host)
    closed: list[roomkey.HookEvent] = []

    @host.handle.hook("connection_close")
    async def on_close(event: roomkey.HookEvent) -> None:
        closed.append(event)

    page = await connect(host.server, token=make_token("7"))
    assert (await page.subscribe("presence-reload"))["channel"] == "presence-reload"
    await wait_for_condition(lambda: recorded.of("member_added"), "member_added")
    reloaded = await connect(host.server, token=make_token("7"))
    marker = await connect(host.server, token=make_token("8"))
    await page.client.disconnect()
    # Connections are not held: the old page's close comes at once (and shows that the
    # leave happened before the re-join).
    await wait_for_condition(lambda: closed, "connection_close")
    assert (await reloaded.subscribe("presence-reload"))["channel"] == "presence-reload"
    assert kinds(await marked(recorded, marker)) == joined("presence-reload", "7")
    assert absorbed(host) == 2  # the held leaves, each cancelled by its re-join


async def test_a_leave_that_lasts_fires_once_after_the_window(
    start_host: StartHost, connect: ConnectClient
) -> None:
    host = await start_host(hooks_settings(DELAY))
    recorded = recording(host)
    page, other = [await connect(host.server, token=make_token(u)) for u in ("7", "8")]
    for client in (page, other):
        assert (await client.subscribe("presence-gone"))["channel"] == "presence-gone"
    await page.client.disconnect()
    await wait_for_condition(lambda: recorded.of("member_removed"), "member_removed")
    await other.call("unsubscribe", {"channel": "presence-gone"})
    # The user joins again after the window: a new member, fired as such.
    await wait_for_condition(lambda: recorded.of("channel_vacated"), "channel_vacated")
    assert (await other.subscribe("presence-gone"))["channel"] == "presence-gone"
    assert kinds(await marked(recorded, other)) == [
        *joined("presence-gone", "7"),
        ("member_added", "presence-gone", "8"),
        ("member_removed", "presence-gone", "7"),
        ("channel_vacated", "presence-gone", None),
        ("member_removed", "presence-gone", "8"),
        *joined("presence-gone", "8"),
    ]
    assert absorbed(host) == 0


@pytest.mark.redis
async def test_a_reload_onto_another_node_fires_no_hook(
    start_host: StartHost, connect: ConnectClient, redis_server: RedisServer
) -> None:
    settings = replace(hooks_settings(DELAY), redis=redis_settings(redis_server.url))
    one, two = await start_host(settings), await start_host(settings)
    recorded = recording(one, two)
    page = await connect(one.server, token=make_token("7"))
    assert (await page.subscribe("presence-moved"))["channel"] == "presence-moved"
    await wait_for_condition(lambda: recorded.of("member_added"), "member_added")
    reloaded = await connect(two.server, token=make_token("7"))
    marker = await connect(two.server, token=make_token("8"))
    await page.client.disconnect()
    await wait_for_condition(lambda: not one.server.runtime.hub.connections, "the page gone")
    assert (await reloaded.subscribe("presence-moved"))["channel"] == "presence-moved"
    # The re-join on the second node cancelled the leaves the first node holds in Redis.
    assert kinds(await marked(recorded, marker)) == joined("presence-moved", "7")
    assert absorbed(one) + absorbed(two) == 2


@pytest.mark.redis
async def test_a_lasting_leave_fires_once_in_the_cluster(
    start_host: StartHost, connect: ConnectClient, redis_server: RedisServer
) -> None:
    settings = replace(hooks_settings(DELAY), redis=redis_settings(redis_server.url))
    one, two = await start_host(settings), await start_host(settings)
    recorded = recording(one, two)
    ada, bo = await connect(one.server, token=make_token("7")), await connect(two.server)
    assert (await ada.subscribe("presence-gone"))["channel"] == "presence-gone"
    await wait_for_condition(lambda: recorded.of("member_added"), "member_added")
    await ada.client.disconnect()
    await wait_for_condition(lambda: not one.server.runtime.hub.connections, "ada gone")
    # Fired by whichever node claims them, once: a duplicate would come before the marker's.
    assert kinds(await marked(recorded, bo)) == [
        *joined("presence-gone", "7"),
        ("channel_vacated", "presence-gone", None),
        ("member_removed", "presence-gone", "7"),
    ]
