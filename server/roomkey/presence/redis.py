"""Cluster-wide channel state in Redis (scripts: ``redis_scripts.py``; key names:
``redis_keys.py``).

Each node keeps a mirror of the entries it holds (one per subscription and per presence
connection) and registers every entry in Redis under its node id, so that:

- every ``heartbeat_seconds`` the node stamps itself in ``p:nodes``; a node silent for
  ``node_timeout_seconds`` is claimed by one live node, which removes its entries and hands
  the resulting departures (member_removed, channel_vacated) to the departure handler, one
  per user or channel that is really gone;
- when a heartbeat finds this node unregistered (Redis restarted empty, or the node was
  swept while unreachable) or an earlier call failed, the node reconciles: entries in Redis
  that it no longer holds are removed and announced (their leave never reached Redis), and
  entries it holds that Redis lost are restored silently (nobody was told they left, so
  nothing is announced twice);
- every heartbeat the node also writes its open connections per app (apps with a connection
  quota only) to ``p:node-conns:n``, which expires after ``node_timeout_seconds`` unless
  renewed, and reads the other registered nodes' counts: ``other_connections`` is at most
  about one heartbeat old, so a connection quota holds across the cluster (a burst of
  connects spread over nodes within one heartbeat can pass it by that burst).

Calls raise ``ServiceUnavailable`` when Redis cannot answer (``BackendError`` when it refuses
a command); a failed leave is still forgotten here and reaches Redis at the next
reconciliation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable
from typing import Any, TypeVar

import redis.asyncio as aioredis

from roomkey.config import RedisSettings
from roomkey.core.errors import LimitExceeded, RoomkeyError, ServiceUnavailable
from roomkey.core.protocol import dumps
from roomkey.logs import log_event
from roomkey.presence import redis_scripts as lua
from roomkey.presence.base import ConnectionCounter, Departure, DepartureHandler, JoinResult
from roomkey.presence.node_entries import Entry, Gate, json_or_none, parse_entry
from roomkey.redis_client import bounded, open_redis, text
from roomkey.redis_keys import RedisKeys
from roomkey.tasks import cancel_and_wait

log = logging.getLogger("roomkey.presence")

T = TypeVar("T")
BATCH = 500  # entries per pipeline during sweeps and reconciliation


class RedisPresenceStore:
    def __init__(self, settings: RedisSettings, node_id: str) -> None:
        self._settings = settings
        self.node_id = node_id
        self._keys = RedisKeys(settings.prefix)
        self._timeout = settings.operation_timeout_seconds
        self._redis: aioredis.Redis | None = None
        self._entries: dict[str, Entry] = {}
        self._gate = Gate()
        self._dirty = False
        self._healthy_since: float | None = None  # monotonic time of the first good beat
        self._handler: DepartureHandler | None = None
        self._task: asyncio.Task[None] | None = None
        self._scripts: dict[str, Any] = {}
        self._counter: ConnectionCounter | None = None
        self._others: dict[str, int] = {}  # app id -> connections on the other nodes

    # -- keys (their layout: redis_keys.py) ----------------------------------------------

    def _subs(self, app_id: str, channel: str) -> str:
        return self._keys.subscribers(app_id, channel)

    def _channels(self, app_id: str) -> str:
        return self._keys.channels(app_id)

    def _pres(self, app_id: str, channel: str) -> list[str]:
        return self._keys.presence(app_id, channel)

    def _node(self, node_id: str) -> str:
        return self._keys.node_entries(node_id)

    def _conns(self, node_id: str) -> str:
        return self._keys.node_connections(node_id)

    @property
    def _nodes(self) -> str:
        return self._keys.nodes

    # -- lifetime ----------------------------------------------------------------------

    def set_departure_handler(self, handler: DepartureHandler) -> None:
        self._handler = handler

    def set_connection_counter(self, counter: ConnectionCounter) -> None:
        self._counter = counter

    def other_connections(self, app_id: str) -> int:
        return self._others.get(app_id, 0)

    async def start(self) -> None:
        self._redis = open_redis(self._settings, name="roomkey-presence")
        for name in (
            "ADD_SUBSCRIBER",
            "REMOVE_SUBSCRIBER",
            "JOIN",
            "LEAVE",
            "HEARTBEAT",
            "CLAIM_DEAD",
        ):
            self._scripts[name] = self._redis.register_script(getattr(lua, name))
        self._task = asyncio.create_task(self._run(), name="roomkey-presence-heartbeat")

    async def close(self) -> None:
        """Stop heartbeating and unregister this node. Its entries should already be gone
        (the hub leaves every channel first); if some are left (a leave could not reach
        Redis), the node stays registered, so that another node sweeps and announces them
        after ``node_timeout_seconds``."""
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
        if self._redis is None:
            return
        try:
            await self._call(self._redis.delete(self._conns(self.node_id)), "close")
            if not await self._call(self._redis.scard(self._node(self.node_id)), "close"):
                await self._call(self._redis.zrem(self._nodes, self.node_id), "unregister")
        except RoomkeyError:
            pass  # unreachable or refused: the others sweep this node after node_timeout
        finally:
            await self._redis.aclose()
            self._redis = None

    # -- PresenceStore -----------------------------------------------------------------

    async def add_subscriber(self, app_id: str, channel: str, socket_id: str) -> int:
        entry = Entry("s", app_id, channel, socket_id)
        async with self._gate.op():
            count = await self._run_script(
                "ADD_SUBSCRIBER",
                [self._subs(app_id, channel), self._channels(app_id), self._node(self.node_id)],
                [socket_id, channel, entry.key],
            )
            self._entries[entry.key] = entry
        return int(count)

    async def remove_subscriber(self, app_id: str, channel: str, socket_id: str) -> int:
        entry = Entry("s", app_id, channel, socket_id)
        async with self._gate.op():
            self._entries.pop(entry.key, None)
            count = await self._forgetting(
                self._run_script(
                    "REMOVE_SUBSCRIBER",
                    [self._subs(app_id, channel), self._channels(app_id), self._node(self.node_id)],
                    [socket_id, channel, entry.key],
                )
            )
        return int(count)

    async def subscriber_count(self, app_id: str, channel: str) -> int:
        return int(await self._call(self._r.scard(self._subs(app_id, channel)), "count"))

    async def channels(self, app_id: str, prefix: str = "") -> dict[str, int]:
        raw = await self._call(self._r.hgetall(self._channels(app_id)), "channels")
        out: dict[str, int] = {}
        for name, count in raw.items():
            channel = text(name)
            if channel.startswith(prefix) and int(count) > 0:
                out[channel] = int(count)
        return out

    async def join(
        self,
        app_id: str,
        channel: str,
        socket_id: str,
        user_id: str,
        user_info: Any,
        max_members: int,
    ) -> JoinResult:
        entry = Entry("p", app_id, channel, socket_id, user_id, user_info)
        async with self._gate.op():
            first, flat = await self._run_script(
                "JOIN",
                [*self._pres(app_id, channel), self._node(self.node_id)],
                [socket_id, user_id, dumps(user_info), max_members, entry.key],
            )
            if int(first) == -1:
                raise LimitExceeded(f"presence channel is full ({max_members} members)")
            self._entries[entry.key] = entry
        members = {text(flat[i]): json_or_none(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}
        return JoinResult(int(first) == 1, members)

    async def leave(self, app_id: str, channel: str, socket_id: str) -> str | None:
        entry = Entry("p", app_id, channel, socket_id)
        async with self._gate.op():
            self._entries.pop(entry.key, None)
            gone = await self._forgetting(
                self._run_script(
                    "LEAVE",
                    [*self._pres(app_id, channel), self._node(self.node_id)],
                    [socket_id, entry.key],
                )
            )
        return text(gone) if gone is not None else None

    async def members(self, app_id: str, channel: str) -> dict[str, Any]:
        raw = await self._call(self._r.hgetall(self._pres(app_id, channel)[1]), "members")
        return {text(k): json_or_none(v) for k, v in raw.items()}

    # -- heartbeat, sweep, reconciliation ------------------------------------------------

    async def beat(self) -> None:
        """One heartbeat: stamp this node, reconcile if needed, sweep dead nodes. Raises
        ``ServiceUnavailable`` when Redis cannot answer (a later beat reconciles).

        After Redis was unreachable (or at start), this node waits one heartbeat before
        reconciling, so that the other nodes' listeners (which retry at least once per
        heartbeat) are back to hear what it announces, and ``node_timeout_seconds`` before
        sweeping, so that every live node has stamped itself again: an outage of Redis is
        not mistaken for the death of every node."""
        try:
            unregistered = await self._run_script("HEARTBEAT", [self._nodes], [self.node_id])
        except ServiceUnavailable:
            self._unreachable()
            raise
        now = time.monotonic()
        if self._healthy_since is None:
            self._healthy_since = now
        healthy_for = now - self._healthy_since
        if int(unregistered):
            self._dirty = True
        try:
            if self._dirty and healthy_for >= self._settings.heartbeat_seconds:
                await self._announce(await self._reconcile())
            if healthy_for >= self._settings.node_timeout_seconds:
                await self._sweep()
            await self._share_counts()
        except ServiceUnavailable:
            self._unreachable()
            raise

    def _unreachable(self) -> None:
        """Redis did not answer a heartbeat: reconcile once it does; meanwhile the other
        nodes' connection counts are unknown, so quotas count this node's alone (a stale
        count could otherwise refuse every connection for as long as Redis is away)."""
        self._dirty, self._healthy_since = True, None
        self._others = {}

    async def _share_counts(self) -> None:
        """Write this node's connection counts (apps with a quota), read the other nodes'.
        Nothing at all when no app has a quota (the apps are fixed at start)."""
        counts: dict[Any, int] = dict(self._counter()) if self._counter is not None else {}
        if not counts:
            return
        key = self._conns(self.node_id)
        ttl_ms = max(1, int(self._settings.node_timeout_seconds * 1000))
        # Every app with a quota is written, zeros included, so the hash never holds a stale
        # count and needs no DEL first (no MULTI either: the documented ACL has no
        # @transaction, and each command here is atomic on its own).
        pipe = self._r.pipeline(transaction=False)
        pipe.hset(key, mapping=counts)
        pipe.pexpire(key, ttl_ms)
        pipe.zrange(self._nodes, 0, -1)
        replies = await self._call(pipe.execute(), "connection counts")
        others = [text(n) for n in replies[-1] if text(n) != self.node_id]
        totals: Counter[str] = Counter()
        if others:
            pipe = self._r.pipeline(transaction=False)
            for node_id in others:
                pipe.hgetall(self._conns(node_id))
            for held in await self._call(pipe.execute(), "connection counts"):
                for app_id, n in held.items():
                    try:
                        totals[text(app_id)] += int(n)
                    except ValueError:  # not written by roomkey: not a count
                        continue
        self._others = dict(totals)

    async def _run(self) -> None:
        healthy = True
        while True:
            try:
                await self.beat()
                if not healthy:
                    log.info("presence heartbeat restored")
                healthy = True
            except RoomkeyError as exc:
                # Unreachable, or (BackendError) a refused command: either way what Redis
                # holds may now differ from this node's mirror, so reconcile when it answers.
                self._dirty = True
                if healthy:
                    log_event(log, logging.WARNING, "presence heartbeat failed", reason=exc.message)
                healthy = False
            except Exception:
                self._dirty = True
                log.exception("presence heartbeat failed")
            await asyncio.sleep(self._settings.heartbeat_seconds)

    async def _reconcile(self) -> list[Departure]:
        async with self._gate.exclusive():
            raw = await self._call(self._r.smembers(self._node(self.node_id)), "reconcile")
            held = {text(r) for r in raw}
            stale = [text(r) for r in raw if text(r) not in self._entries]
            lost = [e for k, e in self._entries.items() if k not in held]
            departures = await self._remove_entries(self.node_id, stale)
            await self._restore(lost)
            self._dirty = False
        if stale or lost:
            log_event(
                log,
                logging.INFO,
                "presence reconciled",
                removed=len(stale),
                restored=len(lost),
                node=self.node_id,
            )
        return departures

    async def _restore(self, entries: list[Entry]) -> None:
        for i in range(0, len(entries), BATCH):
            pipe = self._r.pipeline(transaction=False)
            for e in entries[i : i + BATCH]:
                if e.kind == "s":
                    keys = [self._subs(e.app_id, e.channel), self._channels(e.app_id)]
                    args: list[Any] = [e.socket_id, e.channel, e.key]
                    await self._scripts["ADD_SUBSCRIBER"](
                        keys=[*keys, self._node(self.node_id)], args=args, client=pipe
                    )
                else:
                    args = [e.socket_id, e.user_id, dumps(e.user_info), 0, e.key]
                    await self._scripts["JOIN"](
                        keys=[*self._pres(e.app_id, e.channel), self._node(self.node_id)],
                        args=args,
                        client=pipe,
                    )
            await self._call(pipe.execute(), "restore")

    async def _remove_entries(self, node_id: str, raw: list[str]) -> list[Departure]:
        entries = [e for e in (parse_entry(r) for r in raw) if e is not None]
        departures: list[Departure] = []
        node_key = self._node(node_id)
        for i in range(0, len(entries), BATCH):
            batch = entries[i : i + BATCH]
            pipe = self._r.pipeline(transaction=False)
            for e in batch:
                if e.kind == "s":
                    await self._scripts["REMOVE_SUBSCRIBER"](
                        keys=[self._subs(e.app_id, e.channel), self._channels(e.app_id), node_key],
                        args=[e.socket_id, e.channel, e.key],
                        client=pipe,
                    )
                else:
                    await self._scripts["LEAVE"](
                        keys=[*self._pres(e.app_id, e.channel), node_key],
                        args=[e.socket_id, e.key],
                        client=pipe,
                    )
            results = await self._call(pipe.execute(), "remove")
            for e, result in zip(batch, results, strict=True):
                if e.kind == "s" and result is not None and int(result) == 0:
                    departures.append(Departure(e.app_id, e.channel, True, None))
                elif e.kind == "p" and result is not None:
                    departures.append(Departure(e.app_id, e.channel, False, text(result)))
        return departures

    async def _sweep(self) -> None:
        timeout_ms = int(self._settings.node_timeout_seconds * 1000)
        dead = await self._run_script(
            "CLAIM_DEAD", [self._nodes], [timeout_ms, self.node_id, timeout_ms]
        )
        for raw_id in dead:
            node_id = text(raw_id)
            raw = await self._call(self._r.smembers(self._node(node_id)), "sweep")
            departures = await self._remove_entries(node_id, [text(r) for r in raw])
            await self._call(self._r.delete(self._node(node_id), self._conns(node_id)), "sweep")
            await self._call(self._r.zrem(self._nodes, node_id), "sweep")
            log_event(
                log,
                logging.WARNING,
                "swept a silent node",
                node=node_id,
                entries=len(raw),
                departures=len(departures),
            )
            await self._announce(departures)

    async def _announce(self, departures: list[Departure]) -> None:
        if not departures or self._handler is None:
            return
        try:
            await self._handler(departures)
        except Exception:
            log.exception("announcing departures failed")

    # -- plumbing ----------------------------------------------------------------------

    @property
    def _r(self) -> aioredis.Redis:
        if self._redis is None:
            raise ServiceUnavailable("the presence store is not started")
        return self._redis

    async def _call(self, call: Awaitable[T], what: str) -> T:
        return await bounded(call, self._timeout, what)

    async def _run_script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        if self._redis is None:
            raise ServiceUnavailable("the presence store is not started")
        return await self._call(self._scripts[name](keys=keys, args=args), name.lower())

    async def _forgetting(self, call: Awaitable[T]) -> T:
        """A removal: already forgotten in the mirror; if Redis misses it, reconcile later."""
        try:
            return await call
        except RoomkeyError:
            self._dirty = True
            raise
