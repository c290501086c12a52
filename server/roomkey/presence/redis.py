"""Cluster-wide channel state in Redis (scripts: ``redis_scripts.py``; key names:
``redis_keys.py``).

Each node keeps a mirror of the entries it holds (one per subscription and per presence
connection) and registers every entry in Redis under its node id, in a set per app (so that
each script touches one Redis Cluster slot), naming the app in its node-apps set first (so
that a sweep finds every set). The node registry's
heartbeat (``cluster/redis.py``) keeps them true, through this store's ``NodeState`` side:

- a node silent for ``node_timeout_seconds`` is claimed by one live node, whose ``sweep``
  removes its entries and hands the resulting departures (member_removed, channel_vacated) to
  the departure handler, one per user or channel that is really gone;
- when a heartbeat finds this node unregistered (Redis restarted empty, or the node was
  swept while unreachable) or an earlier call or heartbeat failed, the node reconciles, once
  Redis has answered for one heartbeat (so that the other nodes' listeners, which retry at
  least once per heartbeat, are back to hear what it announces): entries in Redis that it no
  longer holds are removed and announced (their leave never reached Redis), and entries it
  holds that Redis lost are restored silently (nobody was told they left, so nothing is
  announced twice).

Calls raise ``ServiceUnavailable`` when Redis cannot answer (``BackendError`` when it refuses
a command); a failed leave is still forgotten here and reaches Redis at the next
reconciliation.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.asyncio.cluster import RedisCluster

from roomkey.cluster.base import NodeState
from roomkey.config import RedisSettings
from roomkey.core.errors import LimitExceeded, RoomkeyError, ServiceUnavailable
from roomkey.core.protocol import dumps
from roomkey.logs import log_event
from roomkey.presence import redis_scripts as lua
from roomkey.presence.base import Departure, DepartureHandler, JoinResult, PresenceStore
from roomkey.presence.node_entries import Entry, Gate, json_or_none, parse_entry
from roomkey.redis_client import RedisClient, bounded, gathered, open_redis, run_batch, text
from roomkey.redis_keys import RedisKeys

log = logging.getLogger("roomkey.presence")

T = TypeVar("T")
BATCH = 500  # entries per pipeline during sweeps and reconciliation
_Call = tuple[str, list[str], list[Any]]  # a script's name, keys and arguments


class RedisPresenceStore(PresenceStore, NodeState):
    def __init__(self, settings: RedisSettings, node_id: str) -> None:
        self._settings = settings
        self.node_id = node_id
        self._keys = RedisKeys(settings.prefix)
        self._timeout = settings.operation_timeout_seconds
        self._redis: RedisClient | None = None
        self._entries: dict[str, Entry] = {}
        self._gate = Gate()
        self._dirty = False
        self._handler: DepartureHandler | None = None
        self._scripts: dict[str, Any] = {}
        # Apps known to be in this node's node-apps set (forgotten when Redis may have lost it)
        self._noted: set[str] = set()

    # -- keys (their layout: redis_keys.py) ----------------------------------------------

    def _subs(self, app_id: str, channel: str) -> str:
        return self._keys.subscribers(app_id, channel)

    def _channels(self, app_id: str) -> str:
        return self._keys.channels(app_id)

    def _pres(self, app_id: str, channel: str) -> list[str]:
        return self._keys.presence(app_id, channel)

    def _node(self, app_id: str, node_id: str) -> str:
        return self._keys.node_entries(app_id, node_id)

    # -- lifetime ----------------------------------------------------------------------

    def set_departure_handler(self, handler: DepartureHandler) -> None:
        self._handler = handler

    def sizes(self) -> dict[str, int]:
        """This node's mirror of what it registered in Redis (subscriptions and presence
        connections)."""
        return {"presence.node_entries": len(self._entries)}

    async def start(self) -> None:
        self._redis = open_redis(self._settings, name="roomkey-presence")
        for name in ("ADD_SUBSCRIBER", "REMOVE_SUBSCRIBER", "JOIN", "LEAVE"):
            self._scripts[name] = self._redis.register_script(getattr(lua, name))

    async def close(self) -> None:
        """Close the connection. This node's entries should already be gone (the hub leaves
        every channel first); any left (a leave could not reach Redis) keep the node
        registered (``holds_entries``), so that another node sweeps and announces them."""
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    # -- PresenceStore -----------------------------------------------------------------

    async def add_subscriber(self, app_id: str, channel: str, socket_id: str) -> int:
        entry = Entry("s", app_id, channel, socket_id)
        async with self._gate.op():
            await self._note_app(app_id)
            count = await self._run_script(
                "ADD_SUBSCRIBER",
                [
                    self._subs(app_id, channel),
                    self._channels(app_id),
                    self._node(app_id, self.node_id),
                ],
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
                    [
                        self._subs(app_id, channel),
                        self._channels(app_id),
                        self._node(app_id, self.node_id),
                    ],
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
            await self._note_app(app_id)
            first, flat = await self._run_script(
                "JOIN",
                [*self._pres(app_id, channel), self._node(app_id, self.node_id)],
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
                    [*self._pres(app_id, channel), self._node(app_id, self.node_id)],
                    [socket_id, entry.key],
                )
            )
        return text(gone) if gone is not None else None

    async def members(self, app_id: str, channel: str) -> dict[str, Any]:
        raw = await self._call(self._r.hgetall(self._pres(app_id, channel)[1]), "members")
        return {text(k): json_or_none(v) for k, v in raw.items()}

    # -- NodeState: reconciliation and sweeps, at the registry's heartbeats -------------

    async def heartbeat(self, registered_again: bool, healthy_for: float) -> None:
        if registered_again:
            self._dirty = True
            self._noted.clear()
        if self._dirty and healthy_for >= self._settings.heartbeat_seconds:
            await self._announce(await self._reconcile())

    def heartbeat_failed(self) -> None:
        # Unreachable, or a refused command: either way what Redis holds may now differ
        # from this node's mirror, so reconcile when it answers.
        self._dirty = True
        self._noted.clear()

    async def holds_entries(self) -> bool:
        held = await self._held(self.node_id, "close")
        return any(held.values())

    async def sweep(self, node_id: str) -> None:
        held = await self._held(node_id, "sweep")
        raw = [entry for entries in held.values() for entry in entries]
        departures = await self._remove_entries(node_id, raw)
        keys = [self._node(app_id, node_id) for app_id in held]
        for key in keys:  # one at a time: in a cluster they live in different slots
            await self._call(self._r.delete(key), "sweep")
        await self._call(self._r.delete(self._keys.node_apps(node_id)), "sweep")
        log_event(
            log,
            logging.WARNING,
            "swept a silent node",
            node=node_id,
            entries=len(raw),
            departures=len(departures),
        )
        await self._announce(departures)

    async def _held(self, node_id: str, what: str) -> dict[str, list[str]]:
        """App id -> the entries node ``node_id`` holds there, as Redis has them (the apps
        its node-apps set names, and for this node the apps of its mirror too)."""
        raw_apps = await self._call(self._r.smembers(self._keys.node_apps(node_id)), what)
        apps = {text(a) for a in raw_apps}
        if node_id == self.node_id:
            apps.update(e.app_id for e in self._entries.values())
        if not apps:
            return {}
        ordered = sorted(apps)
        commands = [("SMEMBERS", self._node(app_id, node_id)) for app_id in ordered]
        replies = await self._call(run_batch(self._r, commands), what)
        return {a: [text(r) for r in raw] for a, raw in zip(ordered, replies, strict=True)}

    async def _note_app(self, app_id: str) -> None:
        """Name ``app_id`` in this node's node-apps set before its first entry there, so that
        a sweep finds every entry (an app named with no entry left costs nothing)."""
        if app_id in self._noted:
            return
        await self._call(self._r.sadd(self._keys.node_apps(self.node_id), app_id), "register")
        self._noted.add(app_id)

    async def _reconcile(self) -> list[Departure]:
        async with self._gate.exclusive():
            held_by_app = await self._held(self.node_id, "reconcile")
            raw = [entry for entries in held_by_app.values() for entry in entries]
            held = set(raw)
            stale = [r for r in raw if r not in self._entries]
            lost = [e for k, e in self._entries.items() if k not in held]
            departures = await self._remove_entries(self.node_id, stale)
            apps = sorted({e.app_id for e in self._entries.values()})
            if apps:
                await self._call(
                    self._r.sadd(self._keys.node_apps(self.node_id), *apps), "reconcile"
                )
            self._noted = set(apps)
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
        calls: list[_Call] = []
        for e in entries:
            node_key = self._node(e.app_id, self.node_id)
            if e.kind == "s":
                keys = [self._subs(e.app_id, e.channel), self._channels(e.app_id), node_key]
                calls.append(("ADD_SUBSCRIBER", keys, [e.socket_id, e.channel, e.key]))
            else:
                args = [e.socket_id, e.user_id, dumps(e.user_info), 0, e.key]
                calls.append(("JOIN", [*self._pres(e.app_id, e.channel), node_key], args))
        await self._run_many(calls, "restore")

    async def _remove_entries(self, node_id: str, raw: list[str]) -> list[Departure]:
        entries = [e for e in (parse_entry(r) for r in raw) if e is not None]
        calls: list[_Call] = []
        for e in entries:
            node_key = self._node(e.app_id, node_id)
            if e.kind == "s":
                keys = [self._subs(e.app_id, e.channel), self._channels(e.app_id), node_key]
                calls.append(("REMOVE_SUBSCRIBER", keys, [e.socket_id, e.channel, e.key]))
            else:
                keys = [*self._pres(e.app_id, e.channel), node_key]
                calls.append(("LEAVE", keys, [e.socket_id, e.key]))
        departures: list[Departure] = []
        results = await self._run_many(calls, "remove")
        for e, result in zip(entries, results, strict=True):
            if e.kind == "s" and result is not None and int(result) == 0:
                departures.append(Departure(e.app_id, e.channel, True, None))
            elif e.kind == "p" and result is not None:
                departures.append(Departure(e.app_id, e.channel, False, text(result)))
        return departures

    async def _run_many(self, calls: list[_Call], what: str) -> list[Any]:
        """Run many scripts (sweeps, reconciliation), results in the order of ``calls``:
        by sha in pipelines of ``BATCH`` (loaded first: a pipeline cannot load a script that
        Redis lost) on one Redis; on a cluster (whose pipelines refuse scripts) each on its
        own, a batch at once (``run_batch``), loading what its master lacks."""
        results: list[Any] = []
        if not calls:
            return results
        if isinstance(self._r, RedisCluster):
            return await gathered([self._script_call(*c) for c in calls])
        await self._load_scripts()
        for i in range(0, len(calls), BATCH):
            commands = [
                ("EVALSHA", self._scripts[name].sha, len(keys), *keys, *args)
                for name, keys, args in calls[i : i + BATCH]
            ]
            results.extend(await self._call(run_batch(self._r, commands), what))
        return results

    def _script_call(self, name: str, keys: list[str], args: list[Any]) -> Callable[[], Any]:
        return lambda: self._run_script(name, keys, args)

    async def _load_scripts(self) -> None:
        """Load the scripts before a pipeline runs them by sha: a pipeline cannot load a
        script that Redis lost (a restart, a failover)."""
        for script in self._scripts.values():
            await self._call(self._r.script_load(script.script), "script load")

    async def _announce(self, departures: list[Departure]) -> None:
        if not departures or self._handler is None:
            return
        try:
            await self._handler(departures)
        except Exception:
            log.exception("announcing departures failed")

    # -- plumbing ----------------------------------------------------------------------

    @property
    def _r(self) -> RedisClient:
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
