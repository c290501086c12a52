"""Two roomkey nodes on Redis Sentinel and on Redis Cluster while a master dies (``kill -9``):
real redis-server processes on loopback, real Socket.IO and Pusher-protocol clients. After the
failover completes (a replica promoted by the sentinels, or by the cluster), without a restart
of anything: ``/readyz`` says ready again, what is published is delivered exactly once to every
subscriber on both nodes, and presence is right within the documented bound (one heartbeat
after Redis answers again) with no member event shown twice or missed. And a channel whose
slot moves to another master (the end of a resharding) is heard again on its new owner."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from redis.crc import key_slot

from roomkey.broker.redis import RedisBroker
from roomkey.config import RedisSettings
from roomkey.core.errors import RoomkeyError
from roomkey.core.protocol import ChannelEvent
from roomkey.redis_keys import RedisKeys
from tests.support.apps import APP_ID, make_settings, make_token
from tests.support.backends import Recorder
from tests.support.cluster import readyz
from tests.support.pusher import RawPusher, RawPusherFactory, channel_auth
from tests.support.redis_topologies import (
    ClusterTopology,
    SentinelTopology,
    cli,
    start_cluster,
    start_sentinel_topology,
    stop_cluster,
    stop_sentinel_topology,
)
from tests.support.servers import Server, StartServer
from tests.support.socketio_client import ConnectClient
from tests.support.waiting import wait_for_condition, wait_for_condition_blocking

pytestmark = [pytest.mark.redis, pytest.mark.slow]

FAILOVER_TIMEOUT_S = 20.0


@pytest.fixture
def sentinel_topology() -> Iterator[SentinelTopology]:
    """A topology of this test's own: it kills the master."""
    topology = start_sentinel_topology()
    yield topology
    stop_sentinel_topology(topology)


@pytest.fixture
def cluster_topology() -> Iterator[ClusterTopology]:
    topology = start_cluster()
    yield topology
    stop_cluster(topology)


async def test_sentinel_failover_keeps_both_nodes_delivering(
    sentinel_topology: SentinelTopology,
    start_server: StartServer,
    connect: ConnectClient,
    raw_pusher: RawPusherFactory,
) -> None:
    def kill() -> None:
        sentinel_topology.wait_failed_over(sentinel_topology.kill_master())

    await _through_a_failover(sentinel_topology.settings(), kill, start_server, connect, raw_pusher)


async def test_cluster_master_failover_keeps_both_nodes_delivering(
    cluster_topology: ClusterTopology,
    start_server: StartServer,
    connect: ConnectClient,
    raw_pusher: RawPusherFactory,
) -> None:
    settings = cluster_topology.settings()

    def kill() -> None:
        # The master that owns the channel's sharded pub/sub name: its subscribers must move.
        victim = cluster_topology.master_of(
            RedisKeys(settings.prefix).events(APP_ID, "private-room")
        )
        cluster_topology.kill(victim)
        cluster_topology.wait_ok(without=victim)

    await _through_a_failover(settings, kill, start_server, connect, raw_pusher)


async def _through_a_failover(
    redis: RedisSettings,
    kill: Callable[[], None],
    start_server: StartServer,
    connect: ConnectClient,
    raw_pusher: RawPusherFactory,
) -> None:
    settings = replace(make_settings(), redis=redis)
    a, b = await start_server(settings), await start_server(settings)
    await wait_for_condition(
        lambda: a.runtime.hub.broker.ready and b.runtime.hub.broker.ready, "both brokers ready"
    )
    sio_a = await connect(a, token=make_token("7", name="Seven"))
    sio_b = await connect(b, token=make_token("8", name="Eight"))
    for c in (sio_a, sio_b):
        assert await c.subscribe("private-room") == {"channel": "private-room"}
    pusher_b = await raw_pusher.established(b)
    await _pusher_subscribe(pusher_b, b, "private-room")
    observer = await connect(a, token=make_token("1", name="Observer"))
    await observer.subscribe("presence-team")
    member = await connect(b, token=make_token("5", name="Five"))
    await member.subscribe("presence-team")
    assert (await observer.next("member_added"))["user_id"] == "5"
    await _publish_everywhere_once(a, b, [sio_a, sio_b], pusher_b, "before")

    # kill -9 a master; wait (in a thread: the nodes keep running) until it is replaced,
    # asking node a's /readyz meanwhile: not ready while no master answers.
    statuses: list[int] = []
    killing = asyncio.ensure_future(asyncio.to_thread(kill))
    while not killing.done():
        statuses.append((await readyz(a))[0])
        await asyncio.sleep(0.1)
    await killing
    assert 503 in statuses
    # Nothing restarted: both nodes follow the new master and say so on /readyz.
    await wait_for_condition(
        lambda: a.runtime.hub.broker.ready and b.runtime.hub.broker.ready,
        "both brokers ready after the failover",
        timeout=FAILOVER_TIMEOUT_S,
    )
    for node in (a, b):
        assert (await readyz(node))[0] == 200
    await _wait_publish_works(a)
    await _wait_publish_works(b)
    await _publish_everywhere_once(a, b, [sio_a, sio_b], pusher_b, "after")

    # Presence: whatever the promoted replica had not received is restored silently, within
    # one heartbeat of Redis answering (plus the reconciling node's own heartbeat).
    app = a.runtime.apps.default
    await wait_for_condition(
        lambda: _members_are(a, app.id, {"1", "5"}),
        "presence members right after the failover",
        timeout=5 * redis.heartbeat_seconds + FAILOVER_TIMEOUT_S / 4,
    )
    await observer.nothing("member_removed", within=0.3)
    await observer.nothing("member_added", within=0.1)
    # A leave after the failover is announced once; a join too.
    await member.client.disconnect()
    assert await observer.next("member_removed", timeout=5) == {
        "channel": "presence-team",
        "user_id": "5",
    }
    joiner = await connect(b, token=make_token("6", name="Six"))
    await joiner.subscribe("presence-team")
    assert (await observer.next("member_added"))["user_id"] == "6"
    await observer.nothing("member_removed", within=0.3)
    await observer.nothing("member_added", within=0.1)


async def _pusher_subscribe(client: RawPusher, server: Server, channel: str) -> None:
    auth = await channel_auth(server, client.socket_id, channel)
    answer = await client.subscribe(channel, auth=auth["auth"])
    assert answer["event"] == "pusher_internal:subscription_succeeded", answer


async def _publish_everywhere_once(
    a: Server, b: Server, sio: list[Any], pusher: RawPusher, tag: str
) -> None:
    """Five events from each node: every subscriber on both nodes gets each once, in order."""
    expected = [f"{tag}-{n}-{i}" for n in ("a", "b") for i in range(5)]
    for node, n in ((a, "a"), (b, "b")):
        for i in range(5):
            await node.runtime.hub.publish(
                node.runtime.apps.default, ["private-room"], "e", f"{tag}-{n}-{i}"
            )
    for client in sio:
        got = [(await client.next("event", timeout=5))["data"] for _ in expected]
        _each_once_in_order(got, expected)
        await client.nothing("event", within=0.2)
    frames = [await pusher.next_event("e", timeout=5) for _ in expected]
    _each_once_in_order([f["data"] for f in frames], expected)
    await pusher.nothing(within=0.2)


def _each_once_in_order(got: list[str], expected: list[str]) -> None:
    """Every expected event once, and each node's events in the order it published them."""
    assert sorted(got) == sorted(expected)
    for n in ("a", "b"):
        mine = [g for g in got if f"-{n}-" in g]
        assert mine == [e for e in expected if f"-{n}-" in e]


async def _wait_publish_works(node: Server) -> None:
    """A publish on a channel nobody listens to succeeds (the node reaches the new master)."""

    async def publishes() -> bool:
        try:
            await node.runtime.hub.publish(node.runtime.apps.default, ["private-probe"], "p", "")
        except RoomkeyError:
            return False
        return True

    await wait_for_condition(publishes, "a publish to succeed", timeout=FAILOVER_TIMEOUT_S)


async def _members_are(node: Server, app_id: str, users: set[str]) -> bool:
    try:
        return set(await node.runtime.hub.presence.members(app_id, "presence-team")) == users
    except RoomkeyError:
        return False


async def test_a_channel_whose_slot_moves_to_another_master_keeps_being_heard(
    cluster_topology: ClusterTopology,
) -> None:
    """A slot handed to another master (``CLUSTER SETSLOT``, as a resharding ends): Redis
    unsubscribes the old master's subscribers; the listener subscribes on the new owner, and
    what is published afterwards arrives once."""
    settings = cluster_topology.settings()
    a, b = RedisBroker(settings, "node-a"), RedisBroker(settings, "node-b")
    rec = Recorder()
    b.set_handler(rec.deliver)
    for broker in (a, b):
        await broker.start()
    try:
        await wait_for_condition(lambda: a.ready and b.ready, "both brokers ready")
        await b.listen(APP_ID, "private-moving")
        name = RedisKeys(settings.prefix).events(APP_ID, "private-moving")
        source = cluster_topology.master_of(name)
        target = next(p for p in cluster_topology.masters() if p != source)
        slot = str(key_slot(name))
        target_id, source_id = cli(target, "CLUSTER", "MYID"), cli(source, "CLUSTER", "MYID")
        assert cli(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", source_id) == "OK"
        assert cli(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", target_id) == "OK"
        for port in (target, source, *cluster_topology.masters()):
            cli(port, "CLUSTER", "SETSLOT", slot, "NODE", target_id)
        await asyncio.to_thread(
            lambda: wait_for_condition_blocking(
                lambda: cluster_topology.master_of(name) == target, "the slot moved", timeout=10
            )
        )

        async def heard() -> bool:
            rec.deliveries.clear()
            try:
                await a.publish(APP_ID, ChannelEvent("private-moving", "probe", ""))
            except RoomkeyError:
                return False
            await asyncio.sleep(0.1)
            return bool(rec.deliveries)

        await wait_for_condition(heard, "node b hearing the channel again", timeout=10)
        rec.deliveries.clear()
        for i in range(5):
            await a.publish(APP_ID, ChannelEvent("private-moving", "e", str(i)))
        await wait_for_condition(lambda: len(rec.deliveries) >= 5, "five events")
        await asyncio.sleep(0.2)
        events = [m for _, m, _ in rec.deliveries if isinstance(m, ChannelEvent)]
        assert [e.data for e in events] == [str(i) for i in range(5)]
        assert len(rec.deliveries) == 5
    finally:
        for broker in (a, b):
            await broker.close()
