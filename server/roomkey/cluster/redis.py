"""The node registry in Redis (key names: ``redis_keys.py``), shared by every node of a
deployment:

- every ``heartbeat_seconds`` the node stamps itself in ``p:nodes`` (Redis time); a stamp
  that finds it unregistered (new, swept while alive, or Redis lost its data) is reported to
  its ``NodeState``, which then checks what Redis holds for it;
- a node silent for ``node_timeout_seconds`` is claimed by one live node (its stamp moves
  forward by a lease, so that no other node sweeps it meanwhile), which hands it to its
  ``NodeState`` to sweep, then deletes its counts and unregisters it;
- every heartbeat the node also writes its open connections per app (apps with a connection
  quota only) to ``p:node-conns:n``, which expires after ``node_timeout_seconds`` unless
  renewed, and reads the other registered nodes' counts: ``other_connections`` is at most
  about one heartbeat old, so a connection quota holds across the cluster (a burst of
  connects spread over nodes within one heartbeat can pass it by that burst).

After Redis was unreachable (or at start), a node sweeps only once it has been answered for
``node_timeout_seconds``, so that every live node has stamped itself again: an outage of Redis
is not mistaken for the death of every node. While Redis does not answer, the other nodes'
counts are unknown and ``other_connections`` is 0 (a stale count could otherwise refuse every
connection for as long as Redis is away).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable
from typing import Any, TypeVar

from roomkey.cluster.base import ConnectionCounter, NodeRegistry, NodeState
from roomkey.config import RedisSettings
from roomkey.core.errors import RoomkeyError, ServiceUnavailable
from roomkey.logs import log_event
from roomkey.redis_client import RedisClient, bounded, open_redis, run_batch, text
from roomkey.redis_keys import RedisKeys
from roomkey.tasks import cancel_and_wait

log = logging.getLogger("roomkey.cluster")

T = TypeVar("T")

# Each script runs atomically in Redis and reads the time from Redis, so that the nodes'
# clocks never need to agree.

# KEYS[1] nodes sorted set
# ARGV[1] node id
# -> 1 when the node was not registered (new, swept, or Redis lost its data), else 0
HEARTBEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZADD', KEYS[1], now, ARGV[1])
"""

# KEYS[1] nodes sorted set
# ARGV[1] node timeout (ms), ARGV[2] this node's id, ARGV[3] lease (ms)
# -> ids of nodes silent for longer than the timeout. Each is claimed: its score moves
# forward so that other nodes leave it alone for the lease while this one sweeps it.
CLAIM_DEAD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]), 'LIMIT', 0, 16)
local claimed = {}
for _, id in ipairs(dead) do
  if id ~= ARGV[2] then
    redis.call('ZADD', KEYS[1], now - tonumber(ARGV[1]) + tonumber(ARGV[3]), id)
    table.insert(claimed, id)
  end
end
return claimed
"""


class RedisNodeRegistry(NodeRegistry):
    def __init__(
        self, settings: RedisSettings, node_id: str, state: NodeState | None = None
    ) -> None:
        """``state``: what this node holds under its id in the same Redis (the presence
        store's entries), kept true by the heartbeat; None when it holds nothing there."""
        self._settings = settings
        self.node_id = node_id
        self._state = state
        self._keys = RedisKeys(settings.prefix)
        self._timeout = settings.operation_timeout_seconds
        self._redis: RedisClient | None = None
        self._scripts: dict[str, Any] = {}
        self._task: asyncio.Task[None] | None = None
        self._healthy_since: float | None = None  # monotonic time of the first good beat
        self._counter: ConnectionCounter | None = None
        self._others: dict[str, int] = {}  # app id -> connections on the other nodes

    # -- NodeRegistry --------------------------------------------------------------------

    def set_connection_counter(self, counter: ConnectionCounter) -> None:
        self._counter = counter

    def other_connections(self, app_id: str) -> int:
        return self._others.get(app_id, 0)

    async def start(self) -> None:
        self._redis = open_redis(self._settings, name="roomkey-cluster")
        self._scripts = {
            "HEARTBEAT": self._redis.register_script(HEARTBEAT),
            "CLAIM_DEAD": self._redis.register_script(CLAIM_DEAD),
        }
        self._task = asyncio.create_task(self._run(), name="roomkey-node-heartbeat")

    async def close(self) -> None:
        """Stop heartbeating, delete this node's counts and unregister it. If its state
        still holds entries (a leave could not reach Redis), the node stays registered, so
        that another node sweeps and announces them after ``node_timeout_seconds``."""
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
        if self._redis is None:
            return
        try:
            await self._call(self._redis.delete(self._keys.node_connections(self.node_id)), "close")
            if self._state is None or not await self._state.holds_entries():
                await self._call(self._redis.zrem(self._keys.nodes, self.node_id), "unregister")
        except RoomkeyError:
            pass  # unreachable or refused: the others sweep this node after node_timeout
        finally:
            await self._redis.aclose()
            self._redis = None

    # -- the heartbeat -------------------------------------------------------------------

    async def beat(self) -> None:
        """One heartbeat: stamp this node, let its state check itself, sweep dead nodes,
        share connection counts. Raises ``ServiceUnavailable`` when Redis cannot answer (a
        later beat catches up), ``BackendError`` when it refuses a command."""
        try:
            await self._beat()
        except ServiceUnavailable:
            self._healthy_since = None
            self._others = {}
            self._failed()
            raise
        except Exception:
            self._failed()
            raise

    async def _beat(self) -> None:
        registered_again = await self._run_script("HEARTBEAT", [self._keys.nodes], [self.node_id])
        now = time.monotonic()
        if self._healthy_since is None:
            self._healthy_since = now
        healthy_for = now - self._healthy_since
        if self._state is not None:
            await self._state.heartbeat(bool(int(registered_again)), healthy_for)
        if healthy_for >= self._settings.node_timeout_seconds:
            await self._sweep()
        await self._share_counts()

    def _failed(self) -> None:
        if self._state is not None:
            self._state.heartbeat_failed()

    async def _run(self) -> None:
        healthy = True
        while True:
            try:
                await self.beat()
                if not healthy:
                    log.info("node heartbeat restored")
                healthy = True
            except RoomkeyError as exc:
                if healthy:
                    log_event(log, logging.WARNING, "node heartbeat failed", reason=exc.message)
                healthy = False
            except Exception:
                log.exception("node heartbeat failed")
            await asyncio.sleep(self._settings.heartbeat_seconds)

    async def _sweep(self) -> None:
        timeout_ms = int(self._settings.node_timeout_seconds * 1000)
        dead = await self._run_script(
            "CLAIM_DEAD", [self._keys.nodes], [timeout_ms, self.node_id, timeout_ms]
        )
        for raw_id in dead:
            node_id = text(raw_id)
            if self._state is not None:
                await self._state.sweep(node_id)
            await self._call(self._r.delete(self._keys.node_connections(node_id)), "sweep")
            await self._call(self._r.zrem(self._keys.nodes, node_id), "sweep")

    async def _share_counts(self) -> None:
        """Write this node's connection counts (apps with a quota), read the other nodes'.
        Nothing at all when no app has a quota (the apps are fixed at start)."""
        counts: dict[Any, int] = dict(self._counter()) if self._counter is not None else {}
        if not counts:
            return
        key = self._keys.node_connections(self.node_id)
        ttl_ms = max(1, int(self._settings.node_timeout_seconds * 1000))
        # Every app with a quota is written, zeros included, so the hash never holds a stale
        # count and needs no DEL first (no MULTI either: the documented ACL has no
        # @transaction, and each command here is atomic on its own).
        fields = [part for app_id, n in counts.items() for part in (app_id, n)]
        commands = [
            ("HSET", key, *fields),
            ("PEXPIRE", key, ttl_ms),
            ("ZRANGE", self._keys.nodes, 0, -1),
        ]
        replies = await self._call(run_batch(self._r, commands), "connection counts")
        others = [text(n) for n in replies[-1] if text(n) != self.node_id]
        totals: Counter[str] = Counter()
        if others:
            reads = [("HGETALL", self._keys.node_connections(n)) for n in others]
            for held in await self._call(run_batch(self._r, reads), "connection counts"):
                for app_id, n in held.items():
                    try:
                        totals[text(app_id)] += int(n)
                    except ValueError:  # not written by roomkey: not a count
                        continue
        self._others = dict(totals)

    # -- plumbing ------------------------------------------------------------------------

    @property
    def _r(self) -> RedisClient:
        if self._redis is None:
            raise ServiceUnavailable("the node registry is not started")
        return self._redis

    async def _call(self, call: Awaitable[T], what: str) -> T:
        return await bounded(call, self._timeout, what)

    async def _run_script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        if self._redis is None:
            raise ServiceUnavailable("the node registry is not started")
        return await self._call(self._scripts[name](keys=keys, args=args), name.lower())
