"""In-process hooks (``Roomkey.on`` / ``Roomkey.hook``) fed by real clients: every kind on one
node; a failing and a slow hook that hold up neither deliveries nor the other hooks, counted
in the metrics and logged without the event's values; a full queue that drops and counts;
and, over a real redis-server, channel and member events fired once in the cluster."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest
from aiohttp import web

import roomkey
from tests.embedding.conftest import (
    CHANNEL_KINDS,
    Recorded,
    StartHost,
    hooks_settings,
    marked,
    one_app_settings,
)
from tests.support.apps import APP_ID, make_token
from tests.support.backends import redis_settings
from tests.support.metrics import sample, scrape
from tests.support.redis_server import RedisServer
from tests.support.socketio_client import ConnectClient
from tests.support.waiting import wait_for_condition


async def test_every_kind_on_one_node(start_host: StartHost, connect: ConnectClient) -> None:
    host = await start_host(hooks_settings())
    recorded = Recorded()
    for kind in ("channel_occupied", "channel_vacated", "member_added", "member_removed"):
        host.handle.on(kind, recorded)

    @host.handle.hook("client_event")
    async def client_event(event: roomkey.HookEvent) -> None:
        await recorded(event)

    host.handle.on("connection_open", recorded)
    host.handle.on("connection_close", recorded)

    ada = await connect(host.server, token=make_token("7", name="Ada"))
    await wait_for_condition(lambda: recorded.of("connection_open"), "connection_open")
    opened = recorded.of("connection_open")[0]
    assert (opened.app_id, opened.user_id, opened.socket_id, opened.transport) == (
        APP_ID,
        "7",
        ada.socket_id,
        "socketio",
    )
    assert (await ada.subscribe("presence-room"))["channel"] == "presence-room"
    answer = await ada.call(
        "trigger", {"channel": "presence-room", "event": "client-typing", "data": {"x": 1}}
    )
    assert "error" not in (answer or {}), answer
    await wait_for_condition(lambda: recorded.of("client_event"), "client_event")
    sent = recorded.of("client_event")[0]
    assert (sent.channel, sent.event, sent.data, sent.socket_id, sent.user_id) == (
        "presence-room",
        "client-typing",
        '{"x":1}',
        ada.socket_id,
        "7",
    )
    await ada.client.disconnect()
    await wait_for_condition(lambda: recorded.of("connection_close"), "connection_close")
    await wait_for_condition(lambda: recorded.of("channel_vacated"), "channel_vacated")
    assert [(e.kind, e.channel, e.user_id) for e in recorded.events if e.kind in CHANNEL_KINDS] == [
        ("channel_occupied", "presence-room", None),
        ("member_added", "presence-room", "7"),
        # Leaving: the subscriber count first, then the membership.
        ("channel_vacated", "presence-room", None),
        ("member_removed", "presence-room", "7"),
    ]
    assert all(e.time_ms > 0 and e.app_id == APP_ID for e in recorded.events)


def test_an_unknown_kind_is_refused() -> None:
    handle = roomkey.setup(web.Application(), one_app_settings())
    with pytest.raises(ValueError, match="unknown hook kind"):
        handle.on("member_joined", Recorded())  # type: ignore[arg-type]


async def test_a_failing_and_a_slow_hook_hold_up_nothing_else(
    start_host: StartHost, connect: ConnectClient, caplog: pytest.LogCaptureFixture
) -> None:
    host = await start_host(hooks_settings(concurrency=4, timeout_seconds=30.0))
    recorded = Recorded()
    release = asyncio.Event()
    slow_calls: list[str | None] = []

    async def failing(event: roomkey.HookEvent) -> None:
        raise ValueError(f"the payload was {event.channel} and secret-value")

    async def slow(event: roomkey.HookEvent) -> None:
        slow_calls.append(event.channel)
        await release.wait()

    host.handle.on("member_added", failing)
    host.handle.on("member_added", recorded)
    host.handle.on("channel_occupied", slow)
    host.handle.on("channel_occupied", recorded)
    caplog.set_level(logging.WARNING, logger="roomkey.hooks")

    clients = [await connect(host.server, token=make_token(str(i))) for i in range(3)]
    for i, client in enumerate(clients):
        assert (await client.subscribe(f"presence-{i}"))["channel"] == f"presence-{i}"
    # The slow hook still holds three of the four slots: deliveries and the other hooks go on.
    await host.handle.publish([f"presence-{i}" for i in range(3)], "news", "x")
    for client in clients:
        assert (await client.next("event"))["data"] == "x"
    await wait_for_condition(
        lambda: len(recorded.of("member_added")) == 3 and len(recorded.of("channel_occupied")) == 3,
        "every member_added and channel_occupied recorded",
    )
    assert len(slow_calls) == 3
    release.set()

    text = await scrape(host.server)
    failures = sample(text, "roomkey_hook_failures_total", kind="member_added", cause="error")
    assert failures == 3
    failed_lines = [r for r in caplog.records if r.getMessage() == "hook failed"]
    assert len(failed_lines) == 1  # once per burst
    assert "secret-value" not in caplog.text
    assert "presence-" not in " ".join(str(vars(r)) for r in failed_lines)


async def test_a_hook_past_its_timeout_is_cancelled_and_its_slot_freed(
    start_host: StartHost, connect: ConnectClient
) -> None:
    host = await start_host(hooks_settings(concurrency=1, timeout_seconds=0.2))
    recorded = Recorded()
    cancelled: list[str | None] = []

    async def stuck(event: roomkey.HookEvent) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(event.channel)
            raise

    host.handle.on("channel_occupied", stuck)
    host.handle.on("member_added", recorded)
    client = await connect(host.server, token=make_token("7"))
    assert (await client.subscribe("presence-a"))["channel"] == "presence-a"
    # One slot: member_added runs only once the stuck hook has been cancelled.
    await wait_for_condition(lambda: recorded.of("member_added"), "member_added after the timeout")
    assert cancelled == ["presence-a"]
    text = await scrape(host.server)
    assert (
        sample(text, "roomkey_hook_failures_total", kind="channel_occupied", cause="timeout") == 1
    )


async def test_a_full_queue_drops_and_counts(start_host: StartHost, connect: ConnectClient) -> None:
    host = await start_host(hooks_settings(queue_size=1, concurrency=1, timeout_seconds=30.0))
    release = asyncio.Event()
    seen: list[str | None] = []

    async def blocked(event: roomkey.HookEvent) -> None:
        seen.append(event.channel)
        await release.wait()

    host.handle.on("channel_occupied", blocked)
    client = await connect(host.server, token=make_token("7"))
    for i in range(6):
        assert await client.subscribe(f"private-{i}") == {"channel": f"private-{i}"}
    text = await scrape(host.server)
    dropped = sample(text, "roomkey_hook_drops_total")
    assert dropped is not None and dropped >= 1
    release.set()
    # Once the hook returns, the queue drains and new events are taken again.
    assert await client.subscribe("private-late") == {"channel": "private-late"}
    await wait_for_condition(lambda: "private-late" in seen, "the late event's hook")
    assert len(seen) == 6 - int(dropped) + 1


@pytest.mark.redis
async def test_channel_and_member_events_fire_once_in_the_cluster(
    start_host: StartHost, connect: ConnectClient, redis_server: RedisServer
) -> None:
    settings = replace(hooks_settings(), redis=redis_settings(redis_server.url))
    nodes = [await start_host(settings) for _ in range(2)]
    recorded = Recorded()  # one recorder for the cluster: duplicates would show
    for node in nodes:
        for kind in CHANNEL_KINDS:
            node.handle.on(kind, recorded)
    one, two = (node.server for node in nodes)

    ada_one = await connect(one, token=make_token("7", name="Ada"))
    ada_two = await connect(two, token=make_token("7", name="Ada"))
    bo_two = await connect(two, token=make_token("8", name="Bo"))
    for client in (ada_one, ada_two, bo_two):
        assert (await client.subscribe("presence-room"))["channel"] == "presence-room"
    await wait_for_condition(lambda: len(recorded.of("member_added")) == 2, "two members added")
    # The members as both nodes read them.
    for node in nodes:
        members = sorted(m.user_id for m in await node.handle.members("presence-room"))
        assert members == ["7", "8"]
        assert (await node.handle.channel("presence-room")).subscription_count == 3

    for client in (ada_one, ada_two, bo_two):
        await client.client.disconnect()
    await wait_for_condition(lambda: recorded.of("channel_vacated"), "the channel vacated")
    await wait_for_condition(lambda: len(recorded.of("member_removed")) == 2, "both removed")
    # Nothing more comes: a duplicate would be due before the marker's own leave.
    events = await marked(recorded, await connect(two))
    assert sorted((e.kind, e.user_id) for e in events) == [
        ("channel_occupied", None),
        ("channel_vacated", None),
        ("member_added", "7"),
        ("member_added", "8"),
        ("member_removed", "7"),
        ("member_removed", "8"),
    ]
