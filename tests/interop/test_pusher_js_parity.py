"""pusher-js 8 in Node, through its own public API, against two roomkey nodes sharing a real
redis-server: cache channels (``pusher:cache_miss``, then the cached event), subscription
counts (``pusher:subscription_count`` and ``channel.subscriptionCount``) rising and falling
with subscribers on both nodes, and ``pusher.user.watchlist`` hearing ``online``/``offline``
for users signing in and leaving on the other node."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.cluster import start_nodes
from tests.support.redis_server import RedisServer
from tests.support.servers import Server, StartServer
from tests.support.waiting import wait_for_condition

pytestmark = [pytest.mark.node, pytest.mark.redis]


async def _two_nodes(start_server: StartServer, url: str, **app: Any) -> tuple[Server, Server]:
    a, b = await start_nodes(start_server, url, **app)
    return a, b


async def test_cache_miss_then_the_cached_event_from_the_other_node(
    start_server: StartServer, redis_server: RedisServer, node_pusher: Any
) -> None:
    a, b = await _two_nodes(start_server, redis_server.url)
    first = await node_pusher(a)
    await first.connected()
    await first.send("subscribe", channel="cache-price")
    await first.event("cache-price", "pusher:subscription_succeeded")
    await first.event("cache-price", "pusher:cache_miss")

    rt = a.runtime
    await rt.hub.publish(rt.apps.default, ["cache-price"], "quote", '{"eur":3}')
    assert (await first.event("cache-price", "quote"))["data"] == {"eur": 3}

    late = await node_pusher(b)
    await late.connected()
    await late.send("subscribe", channel="cache-price")
    await late.event("cache-price", "pusher:subscription_succeeded")
    cached = await late.event("cache-price", "quote")
    assert cached["data"] == {"eur": 3}
    assert not any(r.get("event") == "pusher:cache_miss" for r in late.seen)


async def test_subscription_counts_rise_and_fall_across_nodes(
    start_server: StartServer, redis_server: RedisServer, node_pusher: Any
) -> None:
    a, b = await _two_nodes(
        start_server,
        redis_server.url,
        subscription_count=True,
        subscription_count_interval_seconds=0.1,
    )
    watcher = await node_pusher(a)
    await watcher.connected()
    await watcher.send("subscribe", channel="ticker")

    async def count_is(n: int) -> None:
        await watcher.expect(
            lambda r: (
                r["type"] == "event"
                and r["event"] == "pusher:subscription_count"
                and r["data"] == {"subscription_count": n}
            ),
            f"subscription count {n}",
        )

    await count_is(1)
    others = [await node_pusher(b), await node_pusher(b)]
    for other in others:
        await other.connected()
        await other.send("subscribe", channel="ticker")
    await count_is(3)
    await watcher.send("count", channel="ticker")
    report = await watcher.expect(lambda r: r["type"] == "count", "channel.subscriptionCount")
    assert report["count"] == 3
    await others[0].stop()
    await count_is(2)


async def test_watchlist_online_and_offline_across_nodes(
    start_server: StartServer, redis_server: RedisServer, node_pusher: Any
) -> None:
    a, b = await _two_nodes(start_server, redis_server.url)
    already = await node_pusher(b, user_id="early")
    await already.connected()
    await already.send("signin")
    await already.expect(lambda r: r["type"] == "signed_in", "early's sign-in")

    watcher = await node_pusher(a, user_id="w", watchlist=["early", "late"])
    await watcher.connected()
    await watcher.send("signin")
    initial = await watcher.expect(lambda r: r["type"] == "watchlist", "the initial state")
    assert initial == {"type": "watchlist", "name": "online", "user_ids": ["early"]}
    # pusher-js reports its sign-in from a promise: before or after that first event.
    await wait_for_condition(
        lambda: any(r["type"] == "signed_in" for r in watcher.seen), "the watcher's sign-in"
    )

    late = await node_pusher(b, user_id="late")
    await late.connected()
    await late.send("signin")
    online = await watcher.expect(lambda r: r["type"] == "watchlist", "late online")
    assert online == {"type": "watchlist", "name": "online", "user_ids": ["late"]}
    await late.stop()
    offline = await watcher.expect(lambda r: r["type"] == "watchlist", "late offline")
    assert offline == {"type": "watchlist", "name": "offline", "user_ids": ["late"]}
