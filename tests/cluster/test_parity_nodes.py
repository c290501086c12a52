"""Cache channels, subscription counts and watchlists across two nodes sharing a real
redis-server, seen by raw Socket.IO clients: the cache is cluster-wide, a count reflects
subscribers on both nodes, and a watcher on one node hears users come and go on the other."""

from __future__ import annotations

import pytest

from tests.support.cluster import start_nodes
from tests.support.pusher import user_auth
from tests.support.redis_server import RedisServer
from tests.support.servers import StartServer
from tests.support.socketio_client import ConnectClient

pytestmark = [pytest.mark.redis]


async def test_cache_counts_and_watchlist_span_nodes(
    start_server: StartServer, connect: ConnectClient, redis_server: RedisServer
) -> None:
    a, b = await start_nodes(
        start_server,
        redis_server.url,
        subscription_count=True,
        subscription_count_interval_seconds=0.1,
    )
    # Cache: published through node a, replayed by node b.
    await a.runtime.hub.publish(a.runtime.apps.default, ["cache-global"], "v", "1")
    on_b = await connect(b)
    await on_b.subscribe("cache-global")
    assert await on_b.next("event") == {"channel": "cache-global", "event": "v", "data": "1"}

    # Counts: subscribers on both nodes.
    assert (await on_b.next("subscription_count"))["subscription_count"] == 1
    on_a = await connect(a)
    await on_a.subscribe("cache-global")
    assert (await on_b.next("subscription_count"))["subscription_count"] == 2
    await on_a.client.disconnect()
    assert (await on_b.next("subscription_count"))["subscription_count"] == 1

    # Watchlist: the watcher on node a, the watched user signing in and leaving on node b.
    watcher = await connect(a)
    await watcher.call("signin", await user_auth(a, watcher.socket_id, "w", watchlist=["x"]))
    watched = await connect(b)
    await watched.call("signin", await user_auth(b, watched.socket_id, "x"))
    assert await watcher.next("watchlist") == {"event": "online", "user_ids": ["x"]}
    await watched.client.disconnect()
    assert await watcher.next("watchlist") == {"event": "offline", "user_ids": ["x"]}
