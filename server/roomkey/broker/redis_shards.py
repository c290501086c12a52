"""The broker's listener on Redis Cluster: sharded pub/sub, one connection per master.

In a cluster the broker publishes with ``SPUBLISH``: a message goes only to the master that
owns its channel's slot (and its replicas), not over the cluster bus to every node. So a
node listens on every master: one session of this listener opens one pub/sub connection to
each master of the current slot map and ``SSUBSCRIBE``s each name there (one command per
slot: Redis refuses a multi-slot ``SSUBSCRIBE``). Every name is sharded, the control channel
included (``p:control``, one slot: control messages are few, and one mechanism follows a
failover the same way for all).

Each connection proves itself: the node ``SPUBLISH``es to a ping name of its own in a slot of
that master (``RedisKeys.shard_ping``) every heartbeat, through the cluster client that also
publishes events, and the connection must hear it within ``deaf_after``.

A session ends (raises) when a connection fails, a ping is not heard in time, a name's slot
belongs to a master the session has no connection to, or Redis unsubscribes a name the node
still wants (``SUNSUBSCRIBE`` pushed when a slot moves away: a migration or a failover). The
broker then starts a new session from a fresh slot map and subscribes everything again, as it
does after any listener failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot

from roomkey.config import RedisSettings
from roomkey.redis_client import REDIS_FAILURES, node_options, reread_slots
from roomkey.redis_keys import RedisKeys
from roomkey.tasks import cancel_and_wait, within

# Candidate ping names tried per master before giving up (a master owning even one slot in
# 16384 is found within this many on average: the names hash uniformly).
MAX_PING_CANDIDATES = 200_000

CLOSE_FAILURES: tuple[type[BaseException], ...] = (*REDIS_FAILURES, RuntimeError)


class TopologyChanged(ConnectionError):
    """The slot map this session was built on no longer holds: start a new session."""


class ShardDeaf(ConnectionError):
    """A master's connection has not heard its ping in time."""


@dataclass
class Shard:
    """The session's connection to one master."""

    node: ClusterNode
    client: aioredis.Redis
    pubsub: Any
    ping_name: bytes
    names: set[bytes] = field(default_factory=set)
    last_heard: float = 0.0
    heard: bool = False


MessageHandler = Callable[[dict[str, Any]], None]
HeardHandler = Callable[[float, float], None]


class ShardedListener:
    """One listening session over a cluster. ``on_message`` gets every message but the pings
    (data and ``ssubscribe`` confirmations); ``on_heard(oldest, lag)`` is called once every
    connection has heard its ping, with the oldest of their last pings (monotonic time).
    ``wanted(name)`` says whether the node still listens to a name (an unsolicited
    unsubscribe from one it wants ends the session)."""

    def __init__(
        self,
        cluster: RedisCluster,
        settings: RedisSettings,
        keys: RedisKeys,
        node_id: str,
        on_message: MessageHandler,
        on_heard: HeardHandler,
        wanted: Callable[[bytes], bool],
    ) -> None:
        self._cluster = cluster
        self._settings = settings
        self._keys = keys
        self._node_id = node_id
        self._timeout = settings.operation_timeout_seconds
        self._on_message = on_message
        self._on_heard = on_heard
        self._wanted = wanted
        self._shards: dict[str, Shard] = {}
        self._by_ping: dict[bytes, Shard] = {}

    # -- the session ---------------------------------------------------------------------

    async def connect(self, names: Iterable[bytes], *, refresh: bool) -> None:
        """Connect to every master, subscribe ``names`` where they live; ``refresh``: read
        the slot map afresh first (a session after a failed one). Raises on any failure
        (the caller closes the session)."""
        cluster = self._cluster
        await within(cluster.initialize(), self._timeout)
        if refresh:
            await within(reread_slots(cluster), self._timeout)
        for node in cluster.get_primaries():
            client = aioredis.Redis(
                host=node.host,
                port=int(node.port),
                **node_options(self._settings, "roomkey-broker"),
            )
            shard = Shard(node, client, client.pubsub(), self._ping_name_for(node))
            self._shards[node.name] = shard
            self._by_ping[shard.ping_name] = shard
            await within(shard.pubsub.ssubscribe(shard.ping_name), self._timeout)
        await self.subscribe(*names)
        await self.ping()

    async def subscribe(self, *names: bytes) -> None:
        """``SSUBSCRIBE`` each name on the master that owns it, one command per slot. Raises
        ``TopologyChanged`` when that master has no connection in this session."""
        by_slot: dict[tuple[str, int], list[bytes]] = defaultdict(list)
        for name in names:
            shard = self._owner(name)
            by_slot[(shard.node.name, key_slot(name))].append(name)
            shard.names.add(name)
        for (node_name, _), group in by_slot.items():
            await within(self._shards[node_name].pubsub.ssubscribe(*group), self._timeout)

    async def unsubscribe(self, *names: bytes) -> None:
        for name in names:
            for shard in self._shards.values():
                if name in shard.names:
                    shard.names.discard(name)
                    await within(shard.pubsub.sunsubscribe(name), self._timeout)

    async def ping(self) -> None:
        """Publish each connection's ping (the payload is the send time)."""
        stamp = repr(time.monotonic()).encode()
        for shard in list(self._shards.values()):
            await within(self._cluster.spublish(shard.ping_name, stamp), self._timeout)

    async def run(self, heartbeat: float, deaf_after: float) -> None:
        """Read every connection and ping each heartbeat until something fails (raised)."""
        started = time.monotonic()
        for shard in self._shards.values():
            shard.last_heard = started
        tasks = [
            asyncio.create_task(self._read(shard, heartbeat), name="roomkey-broker-shard")
            for shard in self._shards.values()
        ]
        tasks.append(asyncio.create_task(self._beat(heartbeat, deaf_after)))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
            raise TopologyChanged("a shard reader stopped")
        finally:
            await cancel_and_wait(tasks)

    async def close(self) -> None:
        shards, self._shards = list(self._shards.values()), {}
        self._by_ping = {}
        for shard in shards:
            with contextlib.suppress(*CLOSE_FAILURES):
                await within(shard.pubsub.aclose(), self._timeout)
            with contextlib.suppress(*CLOSE_FAILURES):
                await within(shard.client.aclose(), self._timeout)

    # -- internals -----------------------------------------------------------------------

    def _owner(self, name: bytes) -> Shard:
        node = self._cluster.nodes_manager.get_node_from_slot(key_slot(name))
        shard = self._shards.get(node.name)
        if shard is None:
            raise TopologyChanged("a slot moved to a master this listener has not connected to")
        return shard

    def _ping_name_for(self, node: ClusterNode) -> bytes:
        slots = self._cluster.nodes_manager.slots_cache
        for index in range(MAX_PING_CANDIDATES):
            name = self._keys.shard_ping(self._node_id, index)
            owners = slots.get(key_slot(name))
            if owners and owners[0].name == node.name:
                return name
        raise TopologyChanged(f"no slot found for master {node.name}")

    async def _read(self, shard: Shard, heartbeat: float) -> None:
        while True:
            message = await shard.pubsub.get_message(timeout=heartbeat)
            if message is None:
                continue
            kind = message.get("type")
            kind = kind.decode() if isinstance(kind, bytes) else kind
            name = message.get("channel")
            if name == shard.ping_name and kind == "smessage":
                self._heard(shard, message.get("data"))
            elif kind == "sunsubscribe" and isinstance(name, bytes) and self._still_wanted(name):
                raise TopologyChanged("redis unsubscribed a channel: its slot moved")
            elif kind == "smessage" or kind == "ssubscribe":
                self._on_message(message)

    def _still_wanted(self, name: bytes) -> bool:
        return name in self._by_ping or self._wanted(name)

    def _heard(self, shard: Shard, data: Any) -> None:
        now = time.monotonic()
        shard.last_heard, shard.heard = now, True
        try:
            lag = max(0.0, now - float(data or b""))
        except (TypeError, ValueError):
            lag = 0.0
        if all(s.heard for s in self._shards.values()):
            self._on_heard(min(s.last_heard for s in self._shards.values()), lag)

    async def _beat(self, heartbeat: float, deaf_after: float) -> None:
        while True:
            await asyncio.sleep(heartbeat)
            now = time.monotonic()
            for shard in self._shards.values():
                if now - shard.last_heard >= deaf_after:
                    raise ShardDeaf(f"no ping heard from {shard.node.name} for {deaf_after:.1f}s")
            await self.ping()
