"""Cluster-wide channel state in Redis (scripts: ``redis_scripts.py``; key names:
``redis_keys.py``).

Each node keeps a mirror of the entries it holds (one per subscription and per presence
connection) and registers every entry in Redis under its node id. The node registry's
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
from collections.abc import Awaitable
from typing import Any, TypeVar

import redis.asyncio as aioredis

from roomkey.cluster.base import NodeState
from roomkey.config import RedisSettings
from roomkey.core.errors import LimitExceeded, RoomkeyError, ServiceUnavailable
from roomkey.core.protocol import dumps
from roomkey.logs import log_event
from roomkey.presence import redis_scripts as lua
from roomkey.presence.base import Departure, DepartureHandler, JoinResult, PresenceStore
from roomkey.presence.node_entries import Entry, Gate, json_or_none, parse_entry
from roomkey.redis_client import bounded, open_redis, text
from roomkey.redis_keys import RedisKeys

log = logging.getLogger("roomkey.presence")

T = TypeVar("T")
BATCH = 500  # entries per pipeline during sweeps and reconciliation


class RedisPresenceStore(PresenceStore, NodeState):
    def __init__(self, settings: RedisSettings, node_id: str) -> None:
        self._settings = settings
        self.node_id = node_id
        self._keys = RedisKeys(settings.prefix)
        self._timeout = settings.operation_timeout_seconds
        self._redis: aioredis.Redis | None = None
        self._entries: dict[str, Entry] = {}
        self._gate = Gate()
        self._dirty = False
        self._handler: DepartureHandler | None = None
        self._scripts: dict[str, Any] = {}

    # -- keys (their layout: redis_keys.py) ----------------------------------------------

    def _subs(self, app_id: str, channel: str) -> str:
        return self._keys.subscribers(app_id, channel)

    def _channels(self, app_id: str) -> str:
        return self._keys.channels(app_id)

    def _pres(self, app_id: str, channel: str) -> list[str]:
        return self._keys.presence(app_id, channel)

    def _node(self, node_id: str) -> str:
        return self._keys.node_entries(node_id)

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

    # -- NodeState: reconciliation and sweeps, at the registry's heartbeats -------------

    async def heartbeat(self, registered_again: bool, healthy_for: float) -> None:
        if registered_again:
            self._dirty = True
        if self._dirty and healthy_for >= self._settings.heartbeat_seconds:
            await self._announce(await self._reconcile())

    def heartbeat_failed(self) -> None:
        # Unreachable, or a refused command: either way what Redis holds may now differ
        # from this node's mirror, so reconcile when it answers.
        self._dirty = True

    async def holds_entries(self) -> bool:
        return bool(await self._call(self._r.scard(self._node(self.node_id)), "close"))

    async def sweep(self, node_id: str) -> None:
        raw = await self._call(self._r.smembers(self._node(node_id)), "sweep")
        departures = await self._remove_entries(node_id, [text(r) for r in raw])
        await self._call(self._r.delete(self._node(node_id)), "sweep")
        log_event(
            log,
            logging.WARNING,
            "swept a silent node",
            node=node_id,
            entries=len(raw),
            departures=len(departures),
        )
        await self._announce(departures)

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
