"""One contract for the webhook stores, run on memory and on each real Redis topology (one
redis-server, Sentinel, Cluster): the leave delay and its cancellation, order, the cap,
claims, acks and releases; and, on Redis, what makes the queue survive a node: a held leave
cancelled from another node, and a claim that runs out taken by another node; the in-process
hooks' queue kept apart from the webhooks'."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from roomkey.config import RedisSettings
from roomkey.redis_keys import RedisKeys
from roomkey.webhooks.base import WebhookStore
from roomkey.webhooks.debounce import Pushed
from roomkey.webhooks.memory import MemoryWebhookStore
from roomkey.webhooks.redis import RedisWebhookStore
from tests.support.backends import EVERY_BACKEND, redis_settings, topology_settings
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for_condition

DELAY = 0.3
LEASE = 30.0
APP = "1"


@pytest.fixture(params=EVERY_BACKEND)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[WebhookStore]:
    s: WebhookStore
    if request.param == "memory":
        s = MemoryWebhookStore()
    else:
        s = RedisWebhookStore(topology_settings(request), "node-a")
    await s.start()
    yield s
    await s.close()


def member(name: str, user: str = "u1", channel: str = "presence-a") -> dict[str, Any]:
    return {"name": name, "channel": channel, "user_id": user}


def channel(name: str, channel: str = "presence-a") -> dict[str, Any]:
    return {"name": name, "channel": channel}


async def claim_names(store: WebhookStore, app: str = APP) -> list[str]:
    claimed = await store.claim(app, 100, LEASE)
    await store.ack(app, [c.id for c in claimed])
    return [str(c.event["name"]) for c in claimed]


async def test_events_are_claimed_once_in_order_as_they_were_pushed(store: WebhookStore) -> None:
    events: list[dict[str, Any]] = [
        {"name": "client_event", "channel": "private-a", "event": "client-x", "data": "{}"},
        {"name": "cache_miss", "channel": "cache-a"},
        {"name": "subscription_count", "channel": "a", "subscription_count": 2},
        *[channel("channel_occupied", f"c{i}") for i in range(12)],
    ]
    assert await store.push(APP, events, DELAY, 100) == [Pushed.STORED] * len(events)
    claimed = await store.claim(APP, 100, LEASE)
    assert [c.event for c in claimed] == events
    assert await store.claim(APP, 100, LEASE) == []
    await store.ack(APP, [c.id for c in claimed])
    assert store.depth == 0 or isinstance(store, RedisWebhookStore)
    assert await store.claim("other-app", 100, LEASE) == []


async def test_a_reload_within_the_window_cancels_both_events(store: WebhookStore) -> None:
    held = [channel("channel_vacated"), member("member_removed")]
    assert await store.push(APP, held, DELAY, 100) == [Pushed.STORED] * 2
    assert await claim_names(store) == []
    back = [channel("channel_occupied"), member("member_added")]
    assert await store.push(APP, back, DELAY, 100) == [Pushed.CANCELLED] * 2
    await asyncio.sleep(DELAY * 2)  # past the window: nothing comes due
    assert await claim_names(store) == []


async def test_a_leave_comes_due_after_the_window(store: WebhookStore) -> None:
    await store.push(APP, [member("member_removed"), member("member_added", "u2")], DELAY, 100)
    assert await claim_names(store) == ["member_added"]
    got: list[str] = []

    async def due() -> bool:
        got.extend(await claim_names(store))
        return bool(got)

    await wait_for_condition(due, "the held member_removed due", timeout=5)
    assert got == ["member_removed"]
    # Claimed: a re-join now is an event of its own.
    assert await store.push(APP, [member("member_added")], DELAY, 100) == [Pushed.STORED]


async def test_the_cap_refuses_and_a_release_makes_events_due_again(store: WebhookStore) -> None:
    pushed = await store.push(APP, [channel("channel_occupied", f"c{i}") for i in range(3)], 0, 2)
    assert pushed == [Pushed.STORED, Pushed.STORED, Pushed.FULL]
    claimed = await store.claim(APP, 1, LEASE)
    assert [c.event["channel"] for c in claimed] == ["c0"]
    await store.release(APP, [claimed[0].id])
    again = await store.claim(APP, 100, LEASE)
    assert sorted(c.event["channel"] for c in again) == ["c0", "c1"]


@pytest.mark.redis
async def test_a_leave_held_for_one_node_is_cancelled_by_another(redis_server: RedisServer) -> None:
    settings = redis_settings(redis_server.url)
    a, b = RedisWebhookStore(settings, "node-a"), RedisWebhookStore(settings, "node-b")
    await a.start()
    await b.start()
    try:
        await a.push(APP, [channel("channel_vacated"), member("member_removed")], DELAY, 100)
        back = [channel("channel_occupied"), member("member_added")]
        assert await b.push(APP, back, DELAY, 100) == [Pushed.CANCELLED] * 2
        await asyncio.sleep(DELAY * 2)
        assert await claim_names(a) == [] and await claim_names(b) == []
        # Nothing left behind in Redis.
        due, events, held, owners, _ = RedisKeys(settings.prefix).webhooks(APP)
        for key in (due, events, held, owners):
            assert redis_server.cli("EXISTS", key) == "0"
    finally:
        await a.close()
        await b.close()


@pytest.mark.redis
async def test_a_claim_that_runs_out_is_taken_by_another_node(redis_server: RedisServer) -> None:
    settings: RedisSettings = redis_settings(redis_server.url)
    a, b = RedisWebhookStore(settings, "node-a"), RedisWebhookStore(settings, "node-b")
    await a.start()
    await b.start()
    try:
        await a.push(APP, [channel("channel_occupied", "kept"), channel("channel_occupied")], 0, 9)
        claimed = await a.claim(APP, 100, 0.4)
        assert len(claimed) == 2
        assert await b.claim(APP, 100, LEASE) == []
        # a renews one claim and lets the other run out, as a node that died would.
        kept = [c.id for c in claimed if c.event["channel"] == "kept"]
        taken: list[str] = []

        async def other_node_takes_it() -> bool:
            await a.renew(APP, kept, 0.4)
            taken.extend(str(c.event["channel"]) for c in await b.claim(APP, 100, LEASE))
            return bool(taken)

        await wait_for_condition(other_node_takes_it, "node b claims what node a let run out")
        assert taken == ["presence-a"]
        # a no longer holds it: its renewal leaves b's claim as it is.
        await a.renew(APP, [c.id for c in claimed], LEASE)
        owners = RedisKeys(settings.prefix).webhooks(APP)[3]
        gone = next(c.id for c in claimed if c.id not in kept)
        assert redis_server.cli("HGET", owners, gone) == "node-b"
        await a.ack(APP, kept)
        assert await a.claim(APP, 100, LEASE) == []
    finally:
        await a.close()
        await b.close()


@pytest.mark.redis
async def test_the_hooks_queue_is_apart_from_the_webhooks(redis_server: RedisServer) -> None:
    settings = redis_settings(redis_server.url)
    webhooks = RedisWebhookStore(settings, "node-a")
    hooks = RedisWebhookStore(settings, "node-a", "hook")
    await webhooks.start()
    await hooks.start()
    try:
        await hooks.push(APP, [member("member_removed")], DELAY, 100)
        # A re-join in the webhooks' queue cancels nothing in the hooks' queue.
        assert await webhooks.push(APP, [member("member_added")], DELAY, 100) == [Pushed.STORED]
        assert await claim_names(webhooks) == ["member_added"]
        due = RedisKeys(settings.prefix).webhooks(APP, "hook")[0]
        assert due.startswith(f"{settings.prefix}:hook-due:")
        assert redis_server.cli("ZCARD", due) == "1"
        assert await hooks.push(APP, [member("member_added")], DELAY, 100) == [Pushed.CANCELLED]
        assert redis_server.cli("EXISTS", due) == "0"
    finally:
        await webhooks.close()
        await hooks.close()


def test_an_unknown_queue_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown event queue"):
        RedisWebhookStore(redis_settings("redis://127.0.0.1:1/0"), "node-a", "hooks")
