"""Two roomkey nodes (real aiohttp servers on loopback) sharing one real redis-server, with real
Socket.IO clients: fan-out, presence across nodes, and Redis faults; a REST publish that
cannot reach the broker is a 503 with an error body, never a silent 200, and publishing works
again once Redis is back, without a restart (the official Python SDK sees both)."""

from __future__ import annotations

from dataclasses import replace

import pusher
import pytest

from roomkey.config import Limits
from roomkey.core.errors import ServiceUnavailable
from roomkey.redis_keys import RedisKeys
from tests.support.apps import APP_ID, APP_KEY, OTHER_APP, make_settings, make_token
from tests.support.backends import redis_settings
from tests.support.cluster import readyz, start_nodes
from tests.support.redis_server import RedisServer, start_redis, stop_redis
from tests.support.rest import call_sdk, sdk, signed_post
from tests.support.servers import StartServer
from tests.support.socketio_client import ConnectClient, refused
from tests.support.waiting import wait_for_condition

pytestmark = [pytest.mark.redis]


async def test_events_reach_every_node_once_with_exclude(
    start_server: StartServer, connect: ConnectClient, redis_server: RedisServer
) -> None:
    a, b = await start_nodes(start_server, redis_server.url)
    token = make_token("7")
    ca = await connect(a, token=token)
    cb = await connect(b, token=token)
    cb2 = await connect(b, token=token)
    for c in (ca, cb, cb2):
        assert await c.subscribe("private-room") == {"channel": "private-room"}
    # A client event from node a reaches both sockets on node b, not its sender.
    assert (
        await ca.call("trigger", {"channel": "private-room", "event": "client-hi", "data": 1}) == {}
    )
    for c in (cb, cb2):
        assert await c.next("event") == {"channel": "private-room", "event": "client-hi", "data": 1}
    await ca.nothing("event")
    # A server publish on node b with exclude: once everywhere but the excluded socket.
    app = b.runtime.apps.default
    for i in range(10):
        await b.runtime.hub.publish(app, ["private-room"], "n", str(i), exclude=cb2.socket_id)
    for c in (ca, cb):
        assert [(await c.next("event"))["data"] for _ in range(10)] == [str(i) for i in range(10)]
        await c.nothing("event", within=0.2)
    await cb2.nothing("event", within=0.1)


async def test_presence_is_cluster_wide_first_and_last_connection(
    start_server: StartServer, connect: ConnectClient, redis_server: RedisServer
) -> None:
    a, b = await start_nodes(start_server, redis_server.url)
    observer = await connect(a, token=make_token("8", name="Observer"))
    ack = await observer.subscribe("presence-team")
    assert ack["presence"]["ids"] == ["8"]
    u7 = [
        await connect(node, token=make_token("7", name="Seven")) for node in (a, b, b)
    ]  # one user, three sockets, two nodes
    first = await u7[0].subscribe("presence-team")
    assert first["presence"]["count"] == 2
    assert await observer.next("member_added") == {
        "channel": "presence-team",
        "user_id": "7",
        "user_info": {"name": "Seven"},
    }
    for c in u7[1:]:
        ack = await c.subscribe("presence-team")
        assert ack["presence"]["hash"] == {"8": {"name": "Observer"}, "7": {"name": "Seven"}}
    await observer.nothing("member_added", within=0.3)
    await u7[0].client.disconnect()
    await u7[1].client.disconnect()
    await observer.nothing("member_removed", within=0.4)
    await u7[2].client.disconnect()
    assert await observer.next("member_removed") == {"channel": "presence-team", "user_id": "7"}
    await observer.nothing("member_removed", within=0.4)
    assert await b.runtime.hub.presence.members(b.runtime.apps.default.id, "presence-team") == {
        "8": {"name": "Observer"}
    }
    assert await a.runtime.hub.presence.channels(a.runtime.apps.default.id) == {"presence-team": 1}


async def test_redis_down_then_back(
    own_redis: RedisServer, start_server: StartServer, connect: ConnectClient
) -> None:
    a, b = await start_nodes(start_server, own_redis.url)
    token = make_token("7")
    a1, a2 = await connect(a, token=token), await connect(a, token=token)
    b1 = await connect(b, token=token)
    watcher = await connect(b, token=make_token("9"))
    for c in (a1, a2, b1):
        await c.subscribe("private-room")
    await watcher.subscribe("presence-p")
    await a1.subscribe("presence-p")
    assert (await watcher.next("member_added"))["user_id"] == "7"
    stop_redis(own_redis)
    await wait_for_condition(
        lambda: not a.runtime.hub.broker.ready, "node a to notice Redis is gone"
    )
    assert (await readyz(a))[0] == 503
    # A client event cannot reach the other node: the sender gets an error...
    ack = await a1.call("trigger", {"channel": "private-room", "event": "client-x", "data": "d"})
    assert ack["error"]["code"] == ServiceUnavailable.code
    # ...but the sockets stay up and the same node still delivers.
    assert await a2.next("event") == {"channel": "private-room", "event": "client-x", "data": "d"}
    with pytest.raises(ServiceUnavailable):
        await a.runtime.hub.publish(a.runtime.apps.default, ["private-room"], "e", "x")
    assert (await a2.next("event"))["data"] == "x"
    assert a1.client.connected and b1.client.connected
    # A subscribe that cannot be counted is refused and leaves nothing behind.
    late = await connect(a, token=token)
    refused = await late.subscribe("private-late")
    assert refused["error"]["code"] == ServiceUnavailable.code
    assert "private-late" not in a.runtime.hub.connections[late.socket_id].channels
    with pytest.raises(ServiceUnavailable):
        await a.runtime.hub.publish(a.runtime.apps.default, ["private-late"], "e", "x")
    await late.nothing("event", within=0.1)
    # Redis back on the same address, empty: nodes resubscribe and re-assert presence.
    restarted = start_redis(own_redis.port)
    own_redis.process, own_redis.workdir = restarted.process, restarted.workdir
    await wait_for_condition(
        lambda: a.runtime.hub.broker.ready and b.runtime.hub.broker.ready,
        "both nodes' brokers ready again",
        timeout=10,
    )
    assert (await readyz(a))[0] == 200
    app = a.runtime.apps.default
    await wait_for_condition(
        lambda: (
            own_redis.cli(
                "HGET", RedisKeys(a.runtime.settings.redis.prefix).channels(app.id), "presence-p"
            )
            == "2"
        ),
        "the channel's subscriber count repaired in Redis",
        timeout=10,
    )
    await wait_for_condition(
        lambda: (
            own_redis.cli(
                "HLEN", RedisKeys(a.runtime.settings.redis.prefix).presence(app.id, "presence-p")[1]
            )
            == "2"
        ),
        "the channel's members repaired in Redis",
        timeout=10,
    )
    assert await a.runtime.hub.presence.members(app.id, "presence-p") == {"9": {}, "7": {}}
    await a.runtime.hub.publish(app, ["private-room"], "e", "after")
    assert (await a1.next("event"))["data"] == "x"  # the publish made while Redis was down
    for c in (a1, a2, b1):
        assert (await c.next("event", timeout=5))["data"] == "after"
    # Presence was re-asserted silently: nobody saw anyone leave, so nobody sees them join.
    await watcher.nothing("member_added", within=0.2)
    await watcher.nothing("member_removed", within=0.1)


async def test_leave_while_redis_is_down_is_announced_when_it_returns(
    own_redis: RedisServer, start_server: StartServer, connect: ConnectClient
) -> None:
    a, b = await start_nodes(start_server, own_redis.url)
    observer = await connect(a, token=make_token("1"))
    await observer.subscribe("presence-q")
    leaver = await connect(b, token=make_token("5"))
    await leaver.subscribe("presence-q")
    assert (await observer.next("member_added"))["user_id"] == "5"
    # Redis stops with its data saved, and comes back with it.
    own_redis.cli("SHUTDOWN", "SAVE")
    own_redis.process.wait(10)
    await wait_for_condition(
        lambda: not b.runtime.hub.broker.ready, "node b to notice Redis is gone"
    )
    await leaver.client.disconnect()
    await observer.nothing("member_removed", within=0.3)
    restarted = start_redis(own_redis.port, workdir=own_redis.workdir)
    own_redis.process = restarted.process
    app_id = a.runtime.apps.default.id
    assert (
        own_redis.cli(
            "HEXISTS",
            RedisKeys(a.runtime.settings.redis.prefix).presence(app_id, "presence-q")[1],
            "5",
        )
        == "1"
    )
    assert await observer.next("member_removed", timeout=10) == {
        "channel": "presence-q",
        "user_id": "5",
    }
    await observer.nothing("member_removed", within=0.5)
    assert await a.runtime.hub.presence.members(app_id, "presence-q") == {"1": {}}


async def test_connection_quota_holds_across_nodes(
    start_server: StartServer, connect: ConnectClient, redis_server: RedisServer
) -> None:
    """An app's max_connections counts its connections on every node (as last heard, one
    heartbeat old at most): full on a and b together means refused on either."""
    settings = replace(
        make_settings(limits=Limits(max_connections=3)), redis=redis_settings(redis_server.url)
    )
    a, b = [await start_server(settings) for _ in range(2)]
    await wait_for_condition(
        lambda: all(n.runtime.hub.broker.ready for n in (a, b)), "both nodes' brokers ready"
    )
    on_a = [await connect(a), await connect(a)]
    await connect(b)
    # Once b has heard a's two connections (and a has heard b's one), both are full.
    await wait_for_condition(
        lambda: (
            b.runtime.hub.nodes.other_connections(APP_ID) == 2
            and a.runtime.hub.nodes.other_connections(APP_ID) == 1
        ),
        "each node to count the other's connections",
    )
    for node in (a, b):
        assert (await refused(node, {"key": APP_KEY}))["code"] == 4004
    # The other app has no quota: not counted, not limited.
    assert b.runtime.hub.nodes.other_connections(OTHER_APP.id) == 0
    await connect(b, key=OTHER_APP.key)
    # A place freed on a can be taken on b, once b has heard of it.
    await on_a[0].client.disconnect()
    await wait_for_condition(
        lambda: b.runtime.hub.nodes.other_connections(APP_ID) == 1,
        "node b to count node a's one connection",
    )
    await connect(b)
    await wait_for_condition(
        lambda: a.runtime.hub.nodes.other_connections(APP_ID) == 2,
        "node a to count node b's two connections",
    )
    assert (await refused(a, {"key": APP_KEY}))["code"] == 4004


# -- the REST API while Redis is away ------------------------------------------------------


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
    await wait_for_condition(
        lambda: not a.runtime.hub.broker.ready, "node a to notice Redis is gone"
    )
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
    await wait_for_condition(
        lambda: a.runtime.hub.broker.ready and b.runtime.hub.broker.ready,
        "both nodes' brokers ready again",
        timeout=10,
    )
    # Drain what node a delivered locally while Redis was down (same-node delivery goes on).
    while not on_a.queue("event").empty():
        on_a.queue("event").get_nowait()
    assert await call_sdk(sdk(a).trigger, "private-news", "story", "two") == {}
    for c in (on_a, on_b):
        assert (await c.next("event", timeout=5))["data"] == "two"
