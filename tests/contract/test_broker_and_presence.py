"""One contract for the broker, presence and node registry backends, run on memory and on
real Redis topologies (one redis-server, Sentinel, Cluster)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from roomkey.broker.base import Broker
from roomkey.broker.memory import MemoryBroker
from roomkey.broker.redis import RedisBroker
from roomkey.cluster.base import NodeRegistry
from roomkey.cluster.memory import MemoryNodeRegistry
from roomkey.cluster.redis import RedisNodeRegistry
from roomkey.config import RedisSettings
from roomkey.core.errors import LimitExceeded, ServiceUnavailable
from roomkey.core.protocol import ChannelEvent, MemberAdded, MemberRemoved
from roomkey.presence.base import Departure, PresenceStore
from roomkey.presence.memory import MemoryPresenceStore
from roomkey.presence.redis import RedisPresenceStore
from roomkey.redis_keys import RedisKeys
from tests.support.backends import (
    EVERY_BACKEND,
    REDIS_TOPOLOGIES,
    Recorder,
    redis_settings,
    topology_settings,
)
from tests.support.redis_server import RedisServer, start_redis, stop_redis
from tests.support.waiting import wait_for_condition


@pytest.fixture(params=EVERY_BACKEND)
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    b: Broker
    if request.param == "memory":
        b = MemoryBroker()
    else:
        b = RedisBroker(topology_settings(request), "node-a")
    await b.start()
    await wait_for_condition(lambda: b.ready, "the broker ready")
    yield b
    await b.close()


@pytest.fixture(params=EVERY_BACKEND)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[PresenceStore]:
    s: PresenceStore
    if request.param == "memory":
        s = MemoryPresenceStore()
    else:
        s = RedisPresenceStore(topology_settings(request), "node-a")
    await s.start()
    yield s
    await s.close()


@pytest.fixture(params=EVERY_BACKEND)
async def nodes(request: pytest.FixtureRequest) -> AsyncIterator[NodeRegistry]:
    n: NodeRegistry
    if request.param == "memory":
        n = MemoryNodeRegistry()
    else:
        n = RedisNodeRegistry(topology_settings(request), "node-a")
    await n.start()
    yield n
    await n.close()


# -- broker contract ---------------------------------------------------------------------


async def test_broker_delivers_to_this_node_in_order_with_exclude(broker: Broker) -> None:
    rec = Recorder()
    broker.set_handler(rec.deliver)
    await broker.listen("1", "private-a")
    for i in range(20):
        await broker.publish("1", ChannelEvent("private-a", "e", str(i)), "9.9" if i == 3 else None)
    await broker.publish("1", MemberAdded("private-a", "u1", {"name": "A"}))
    await broker.publish("1", MemberRemoved("private-a", "u1"))
    # Delivered once each, in publish order, exclude passed through.
    await asyncio.sleep(0.2)
    events = [m for _, m, _ in rec.deliveries if isinstance(m, ChannelEvent)]
    assert [e.data for e in events] == [str(i) for i in range(20)]
    assert [x for _, m, x in rec.deliveries if isinstance(m, ChannelEvent)][3] == "9.9"
    assert isinstance(rec.deliveries[20][1], MemberAdded)
    assert isinstance(rec.deliveries[21][1], MemberRemoved)
    assert len(rec.deliveries) == 22


async def test_broker_control_reaches_this_node(broker: Broker) -> None:
    rec = Recorder()
    broker.set_control_handler(rec.control)
    await broker.publish_control("1", {"op": "terminate_user", "user_id": "7"})
    await asyncio.sleep(0.2)
    assert rec.commands == [("1", {"op": "terminate_user", "user_id": "7"})]


async def test_broker_is_ready(broker: Broker) -> None:
    assert broker.ready


# -- presence contract -------------------------------------------------------------------


async def test_subscriber_counts_and_listing(store: PresenceStore) -> None:
    assert await store.add_subscriber("1", "private-a", "1.1") == 1
    assert await store.add_subscriber("1", "private-a", "1.2") == 2
    assert await store.add_subscriber("1", "presence-b", "1.1") == 1
    assert await store.add_subscriber("2", "private-a", "1.3") == 1  # another app
    assert await store.subscriber_count("1", "private-a") == 2
    assert await store.channels("1") == {"private-a": 2, "presence-b": 1}
    assert await store.channels("1", "presence-") == {"presence-b": 1}
    assert await store.remove_subscriber("1", "private-a", "1.1") == 1
    assert await store.remove_subscriber("1", "private-a", "1.1") == -1
    assert await store.remove_subscriber("1", "private-a", "1.2") == 0
    assert await store.channels("1") == {"presence-b": 1}
    assert await store.channels("2") == {"private-a": 1}


async def test_presence_first_and_last_connection(store: PresenceStore) -> None:
    first = await store.join("1", "presence-r", "1.1", "u1", {"name": "A"}, 100)
    assert first.first and first.members == {"u1": {"name": "A"}}
    again = await store.join("1", "presence-r", "1.2", "u1", {"name": "A"}, 100)
    assert not again.first
    other = await store.join("1", "presence-r", "1.3", "u2", None, 100)
    assert other.first and other.members == {"u1": {"name": "A"}, "u2": None}
    assert await store.leave("1", "presence-r", "1.1") is None
    assert await store.leave("1", "presence-r", "1.1") is None
    assert await store.leave("1", "presence-r", "1.2") == "u1"
    assert await store.members("1", "presence-r") == {"u2": None}
    assert await store.members("2", "presence-r") == {}


async def test_presence_member_limit(store: PresenceStore) -> None:
    await store.join("1", "presence-l", "1.1", "u1", None, 2)
    await store.join("1", "presence-l", "1.2", "u2", None, 2)
    with pytest.raises(LimitExceeded):
        await store.join("1", "presence-l", "1.3", "u3", None, 2)
    # An existing member's extra connection is not a new member.
    assert not (await store.join("1", "presence-l", "1.4", "u2", None, 2)).first
    assert set(await store.members("1", "presence-l")) == {"u1", "u2"}


# -- Redis across nodes ------------------------------------------------------------------


@pytest.fixture(params=REDIS_TOPOLOGIES)
def topology(request: pytest.FixtureRequest) -> Callable[[], RedisSettings]:
    """Settings for one Redis, Sentinel or Cluster: a new prefix at each call."""
    return lambda: topology_settings(request)


async def test_redis_brokers_fan_out_across_nodes_only_where_listened(
    topology: Callable[[], RedisSettings],
) -> None:
    settings = topology()
    a, b = RedisBroker(settings, "node-a"), RedisBroker(settings, "node-b")
    other = RedisBroker(topology(), "node-c")  # another prefix
    recs = [Recorder(), Recorder(), Recorder()]
    for broker, rec in zip((a, b, other), recs, strict=True):
        broker.set_handler(rec.deliver)
        await broker.start()
    try:
        await wait_for_condition(
            lambda: a.ready and b.ready and other.ready, "the three brokers ready"
        )
        await b.listen("1", "private-x")
        await other.listen("1", "private-x")
        for i in range(50):
            await a.publish("1", ChannelEvent("private-x", "e", {"i": i}), "5.5")
        await a.publish("1", ChannelEvent("private-y", "e", "not listened"))
        await a.publish("2", ChannelEvent("private-x", "e", "other app"))
        await wait_for_condition(
            lambda: len(recs[1].deliveries) >= 50, "node b to receive the 50 events"
        )
        await asyncio.sleep(0.2)
        got = recs[1].deliveries
        assert [m.data for _, m, _ in got] == [{"i": i} for i in range(50)]  # type: ignore[attr-defined]
        assert {(app, x) for app, _, x in got} == {("1", "5.5")}
        # The publishing node hands each of its publishes to its own hub once (locally),
        # never a second time from Redis.
        assert len(recs[0].deliveries) == 52
        assert recs[2].deliveries == []  # another prefix hears nothing
        # Unlistened: no longer heard.
        await b.unlisten("1", "private-x")
        await a.publish("1", ChannelEvent("private-x", "e", "late"))
        await asyncio.sleep(0.2)
        assert len(recs[1].deliveries) == 50
    finally:
        for broker in (a, b, other):
            await broker.close()


@pytest.mark.redis
async def test_redis_broker_drops_malformed_messages(redis_server: RedisServer) -> None:
    settings = redis_settings(redis_server.url)
    b = RedisBroker(settings, "node-b")
    rec = Recorder()
    b.set_handler(rec.deliver)
    b.set_control_handler(rec.control)
    await b.start()
    try:
        await wait_for_condition(lambda: b.ready, "the broker ready")
        await b.listen("1", "private-x")
        name = RedisKeys(settings.prefix).events("1", "private-x").decode()
        for bad in (
            "not json",
            "[1,2]",
            '{"n":"x","m":{"t":"e","channel":"private-other","event":"e","data":1}}',
            '{"n":"x","m":{"t":"zz","channel":"private-x"}}',
            "\x80\x81",
        ):
            redis_server.cli("PUBLISH", name, bad)
        redis_server.cli(
            "PUBLISH", RedisKeys(settings.prefix).control.decode(), '{"n":"x","a":1,"c":"no"}'
        )
        good = '{"n":"x","x":null,"m":{"t":"e","channel":"private-x","event":"ok","data":"1"}}'
        redis_server.cli("PUBLISH", name, good)
        await wait_for_condition(
            lambda: len(rec.deliveries) == 1, "the well-formed message delivered"
        )
        assert b.dropped_malformed == 6
        assert rec.commands == []
        assert b.ready
    finally:
        await b.close()


async def test_redis_sweep_of_a_silent_node_announces_each_gone_user_once(
    topology: Callable[[], RedisSettings],
) -> None:
    settings = topology()
    a, b = RedisPresenceStore(settings, "node-a"), RedisPresenceStore(settings, "node-b")
    nodes_a, nodes_b = (
        RedisNodeRegistry(settings, "node-a", a),
        RedisNodeRegistry(settings, "node-b", b),
    )
    seen: list[Departure] = []

    async def announce(departures: list[Departure]) -> None:
        seen.extend(departures)

    a.set_departure_handler(announce)
    b.set_departure_handler(announce)
    for part in (a, b, nodes_a, nodes_b):
        await part.start()
    try:
        # u1 on both nodes, u2 only on node b; private-p only on node b.
        await a.join("1", "presence-s", "1.1", "u1", None, 0)
        await a.add_subscriber("1", "presence-s", "1.1")
        await b.join("1", "presence-s", "2.1", "u1", None, 0)
        await b.add_subscriber("1", "presence-s", "2.1")
        await b.join("1", "presence-s", "2.2", "u2", None, 0)
        await b.add_subscriber("1", "presence-s", "2.2")
        await b.add_subscriber("1", "private-p", "2.3")
        # Node b goes silent without leaving (its heartbeat task stops, as in kill -9).
        assert nodes_b._task is not None
        nodes_b._task.cancel()
        await wait_for_condition(lambda: len(seen) >= 2, "the silent node's departures announced")
        await asyncio.sleep(0.5)  # more heartbeats: nothing announced twice
        assert sorted((d.channel, d.vacated, d.user_id) for d in seen) == [
            ("presence-s", False, "u2"),
            ("private-p", True, None),
        ]
        assert await a.members("1", "presence-s") == {"u1": None}
        assert await a.channels("1") == {"presence-s": 1}
    finally:
        for part in (nodes_a, nodes_b, a, b):
            await part.close()


@pytest.mark.redis
async def test_redis_flush_is_repaired_from_live_connections(redis_server: RedisServer) -> None:
    settings = redis_settings(redis_server.url)
    a = RedisPresenceStore(settings, "node-a")
    nodes_a = RedisNodeRegistry(settings, "node-a", a)
    seen: list[Departure] = []

    async def announce(departures: list[Departure]) -> None:
        seen.extend(departures)

    a.set_departure_handler(announce)
    await a.start()
    await nodes_a.start()
    try:
        await a.join("1", "presence-f", "1.1", "u1", {"n": 1}, 0)
        await a.add_subscriber("1", "presence-f", "1.1")
        await a.add_subscriber("1", "private-f", "1.2")
        redis_server.cli("FLUSHALL")
        assert await a.members("1", "presence-f") == {}
        await wait_for_condition(
            lambda: redis_server.cli("EXISTS", RedisKeys(settings.prefix).channels("1")) == "1",
            "the channel counts repaired after FLUSHALL",
        )
        assert await a.members("1", "presence-f") == {"u1": {"n": 1}}
        assert await a.channels("1") == {"presence-f": 1, "private-f": 1}
        assert seen == []  # silent repair: nobody saw these users leave
    finally:
        await nodes_a.close()
        await a.close()


@pytest.mark.redis
async def test_a_stopping_node_unregisters_unless_redis_still_holds_its_entries(
    redis_server: RedisServer,
) -> None:
    """A node that stops with nothing left in Redis leaves ``nodes`` at once; one whose leave
    never reached Redis stays registered, so that another node sweeps and announces it."""
    settings = redis_settings(redis_server.url)
    keys = RedisKeys(settings.prefix)

    def registered(node_id: str) -> bool:
        return redis_server.cli("ZSCORE", keys.nodes, node_id) != ""

    async def run_and_stop(node_id: str, *, leave: bool) -> None:
        store = RedisPresenceStore(settings, node_id)
        nodes = RedisNodeRegistry(settings, node_id, store)
        await store.start()
        await nodes.start()
        try:
            await wait_for_condition(lambda: registered(node_id), "the node registered")
            await store.add_subscriber("1", "private-s", f"{node_id}.1")
            if leave:
                await store.remove_subscriber("1", "private-s", f"{node_id}.1")
        finally:
            await nodes.close()
            await store.close()

    await run_and_stop("node-clean", leave=True)
    assert not registered("node-clean")
    await run_and_stop("node-left", leave=False)
    assert registered("node-left")


# -- node registry contract ----------------------------------------------------------------


async def test_a_registry_alone_counts_no_other_connections(nodes: NodeRegistry) -> None:
    nodes.set_connection_counter(lambda: {"1": 5})
    if isinstance(nodes, RedisNodeRegistry):
        await nodes.beat()  # its own counts are not "other" connections
    assert nodes.other_connections("1") == 0
    assert nodes.other_connections("unknown") == 0


@pytest.mark.redis
async def test_redis_nodes_share_connection_counts_until_one_stops_or_dies(
    redis_server: RedisServer,
) -> None:
    """Counts of apps with a quota go through Redis each heartbeat: a node sees the others'
    total; a node that stops takes its count with it, one that goes silent loses it once
    swept (or once its key expires, node_timeout after its last beat)."""
    settings = redis_settings(redis_server.url)
    a, b, c = (RedisNodeRegistry(settings, f"node-{n}") for n in "abc")
    counts = {"a": {"1": 3, "2": 1}, "b": {"1": 2}, "c": {"1": 4}}
    for name, nodes in zip("abc", (a, b, c), strict=True):
        nodes.set_connection_counter(lambda name=name: counts[name])  # type: ignore[misc]
        await nodes.start()
    try:
        await wait_for_condition(
            lambda: a.other_connections("1") == 6 and b.other_connections("1") == 7,
            "each node to count the others' connections",
        )
        assert a.other_connections("2") == 0 and b.other_connections("2") == 1
        counts["b"] = {"1": 0}  # b's connections closed
        await wait_for_condition(
            lambda: a.other_connections("1") == 4, "node a to count the other node's 4 connections"
        )
        await c.close()  # a graceful stop removes c's count at once
        await wait_for_condition(
            lambda: a.other_connections("1") == 0, "node a to count no other connection"
        )
        counts["b"] = {"1": 9}
        await wait_for_condition(
            lambda: a.other_connections("1") == 9, "node a to count node b's 9 connections"
        )
        assert b._task is not None
        b._task.cancel()  # b goes silent, as in kill -9: swept, its count gone with it
        await wait_for_condition(
            lambda: a.other_connections("1") == 0, "node a to count no other connection"
        )
        assert (
            redis_server.cli("EXISTS", RedisKeys(settings.prefix).node_connections("node-b")) == "0"
        )
    finally:
        for nodes in (a, b, c):
            await nodes.close()


@pytest.mark.redis
async def test_other_nodes_counts_are_forgotten_while_redis_is_away() -> None:
    """A heartbeat Redis does not answer leaves the other nodes' counts unknown: quotas
    count this node's own connections until Redis answers again, then the shared counts
    are back."""
    server = start_redis()
    settings = redis_settings(server.url)
    a, b = RedisNodeRegistry(settings, "node-a"), RedisNodeRegistry(settings, "node-b")
    a.set_connection_counter(lambda: {"1": 1})
    b.set_connection_counter(lambda: {"1": 4})
    for nodes in (a, b):
        await nodes.start()
    try:
        await wait_for_condition(
            lambda: a.other_connections("1") == 4, "node a to count the other node's 4 connections"
        )
        for nodes in (a, b):  # their own heartbeats aside, beats are driven here
            assert nodes._task is not None
            nodes._task.cancel()
        server.process.terminate()
        server.process.wait(5)
        with pytest.raises(ServiceUnavailable):
            await a.beat()
        assert a.other_connections("1") == 0
        restarted = start_redis(port=server.port, workdir=server.workdir)
        server = restarted

        async def both_beat() -> bool:  # a pooled connection from before the restart may fail once
            try:
                await b.beat()
                await a.beat()
            except ServiceUnavailable:
                return False
            return True

        await wait_for_condition(both_beat, "both nodes to beat again", interval=0.1)
        assert a.other_connections("1") == 4
    finally:
        for nodes in (a, b):
            await nodes.close()
        stop_redis(server)
