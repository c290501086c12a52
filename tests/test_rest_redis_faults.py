"""The REST API on a node whose Redis goes away: a publish that cannot reach the broker is a
503 with an error body, never a silent 200; once Redis is back, publishing works again without
a restart. Real redis-server, real roomkey nodes, the official Python SDK and Socket.IO clients.
"""

from __future__ import annotations

import pusher
import pytest

from tests.conftest import (
    ConnectClient,
    RedisServer,
    StartServer,
    make_token,
    start_redis,
    stop_redis,
)
from tests.rest_helpers import call_sdk, sdk, signed_post
from tests.test_backends_contract import wait_until
from tests.test_cluster import own_redis, readyz, start_nodes

__all__ = ["own_redis"]  # the fixture, imported for pytest


async def test_rest_publish_answers_503_while_redis_is_down_and_recovers(
    own_redis: RedisServer, start_server: StartServer, connect: ConnectClient
) -> None:
    a, b = await start_nodes(start_server, own_redis.url)
    on_a = await connect(a, token=make_token("5"))
    on_b = await connect(b, token=make_token("6"))
    for c in (on_a, on_b):
        assert await c.subscribe("private-news") == {"channel": "private-news"}
    # Published on node a through the SDK, heard on both nodes.
    assert await call_sdk(sdk(a).trigger, "private-news", "story", "one") == {}
    for c in (on_a, on_b):
        assert (await c.next("event"))["data"] == "one"

    stop_redis(own_redis)
    await wait_until(lambda: not a.runtime.hub.broker.ready)
    assert (await readyz(a))[0] == 503
    answer = await signed_post(
        a, "/apps/101/events", {"name": "story", "channels": ["private-news"], "data": "lost?"}
    )
    assert answer.status == 503
    assert answer.body["error"]["code"] == 4200
    # The official SDK sees the failure too: its trigger raises instead of returning {}.
    with pytest.raises(pusher.errors.PusherError):
        await call_sdk(sdk(a).trigger, "private-news", "story", "also lost?")
    # Node b never got it; the sockets stay up.
    await on_b.nothing("event", within=0.3)
    assert on_a.client.connected and on_b.client.connected

    restarted = start_redis(own_redis.port)
    own_redis.process, own_redis.workdir = restarted.process, restarted.workdir
    await wait_until(lambda: a.runtime.hub.broker.ready and b.runtime.hub.broker.ready, 10)
    # Drain what node a delivered locally while Redis was down (same-node delivery goes on).
    while not on_a.queue("event").empty():
        on_a.queue("event").get_nowait()
    assert await call_sdk(sdk(a).trigger, "private-news", "story", "two") == {}
    for c in (on_a, on_b):
        assert (await c.next("event", timeout=5))["data"] == "two"
