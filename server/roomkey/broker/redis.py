"""Cross-node fan-out over Redis pub/sub.

Names (the layout is ``redis_keys.py``'s; ``p`` is ``redis.prefix``, ``{a}`` the app id as a
hash tag, ``n`` a node id): an app's channel ``c`` is the pub/sub channel ``p:events:{a}:c``;
cluster-wide commands travel on ``p:control``; each node pings itself on ``p:ping:n``. Two
deployments (prefixes) or two apps never hear each other, whatever their ids and channels.

A publish is delivered to this node's own subscribers first, synchronously, then published
to Redis; the listener ignores messages its own node published, so nothing is delivered
twice, and same-node delivery keeps working while Redis is down (the publish still raises
``ServiceUnavailable``: the other nodes did not get it). Channel messages are envelopes
(``broker/envelope.py``: JSON, or with ``set_wire_forms`` the transports' wire forms relayed
as they are); control messages are JSON ``{"n", "a": app_id, "c": command}``. Nothing is
unpickled or executed, and a malformed message is dropped, counted in ``dropped_malformed``
and logged.

The listener is one task that owns one pub/sub connection. It subscribes to every channel
this node has subscribers on, pings itself every ``heartbeat_seconds`` and is replaced when
it has not heard its own ping for ``deaf_after`` seconds, or when its connection fails;
reconnection backs off from 50 ms up to ``heartbeat_seconds`` and resubscribes everything.
``ready`` is true while the listener is subscribed and hearing itself. With Sentinel, each
new connection goes to the master the sentinels name, so the listener follows a failover
at its next reconnection.

On Redis Cluster, names are sharded (``SPUBLISH``/``SSUBSCRIBE``) and the listener holds one
connection per master (``redis_shards.py``); a moved slot or a failed master ends its session
like a failed connection, and the next one starts from a fresh slot map.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from roomkey.broker import envelope
from roomkey.broker.base import Broker, BrokerStats, ControlHandler, DeliveryHandler
from roomkey.broker.redis_shards import ShardedListener
from roomkey.config import RedisSettings
from roomkey.core.errors import ServiceUnavailable
from roomkey.core.protocol import Outbound, dumps
from roomkey.logs import log_event
from roomkey.redis_client import REDIS_FAILURES, RedisClient, bounded, open_redis
from roomkey.redis_keys import RedisKeys
from roomkey.tasks import cancel_and_wait, within

log = logging.getLogger("roomkey.broker")

MIN_BACKOFF_SECONDS = 0.05


class ListenerDeaf(Exception):
    """The listener has not heard its own ping in time: its connection is replaced."""


LISTENER_FAILURES: tuple[type[BaseException], ...] = (*REDIS_FAILURES, ListenerDeaf)
CLOSE_FAILURES: tuple[type[BaseException], ...] = (*REDIS_FAILURES, RuntimeError)


class RedisBroker(Broker):
    def __init__(self, settings: RedisSettings, node_id: str) -> None:
        self._settings = settings
        self.node_id = node_id
        self._keys = RedisKeys(settings.prefix)
        self._ping_name = self._keys.ping(node_id)
        self._timeout = settings.operation_timeout_seconds
        self._heartbeat = settings.heartbeat_seconds
        self.deaf_after = max(3 * self._heartbeat, self._heartbeat + 2 * self._timeout)
        self._handler: DeliveryHandler | None = None
        self._control: ControlHandler | None = None
        self._forms: envelope.WireForms | None = None
        self._node_bytes = node_id.encode()
        self._redis: RedisClient | None = None
        self._sharded = settings.mode == "cluster"
        self._shards: ShardedListener | None = None
        # pub/sub channel name -> (app_id, channel): what this node listens to
        self._names: dict[bytes, tuple[str, str]] = {}
        self._pubsub: Any = None
        self._confirm: dict[bytes, list[asyncio.Future[None]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready = False
        self._last_heard = 0.0
        self.dropped_malformed = 0
        self.reconnects = 0
        self.lag_seconds: float | None = None
        self._last_drop_log = 0.0

    # -- names -------------------------------------------------------------------------

    def channel_name(self, app_id: str, channel: str) -> bytes:
        return self._keys.events(app_id, channel)

    @property
    def control_name(self) -> bytes:
        return self._keys.control

    @property
    def ping_name(self) -> bytes:
        return self._ping_name

    # -- Broker ------------------------------------------------------------------------

    def set_handler(self, handler: DeliveryHandler) -> None:
        self._handler = handler

    def set_control_handler(self, handler: ControlHandler) -> None:
        self._control = handler

    def set_wire_forms(self, forms: envelope.WireForms | None) -> None:
        """Publish messages with these wire forms built (``performance.relay_frames``);
        None: JSON envelopes."""
        self._forms = forms

    async def start(self) -> None:
        self._redis = open_redis(self._settings, name="roomkey-broker")
        self._task = asyncio.create_task(self._run(), name="roomkey-broker-listener")

    async def close(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
        self._ready = False
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    def stats(self) -> BrokerStats:
        return BrokerStats(self.reconnects, self.dropped_malformed, self.lag_seconds)

    def sizes(self) -> dict[str, int]:
        return {"broker.listened": len(self._names), "broker.confirming": len(self._confirm)}

    @property
    def ready(self) -> bool:
        return self._ready and time.monotonic() - self._last_heard < self.deaf_after

    async def publish(self, app_id: str, message: Outbound, exclude: str | None = None) -> None:
        if self._handler is not None:
            self._handler(app_id, message, exclude)
        payload = envelope.encode(self.node_id, message, exclude, self._forms)
        await self._send(self.channel_name(app_id, message.channel), payload, "publish")

    async def publish_control(self, app_id: str, command: dict[str, Any]) -> None:
        if self._control is not None:
            self._control(app_id, command)
        wrapped = dumps({"n": self.node_id, "a": app_id, "c": command})
        await self._send(self.control_name, wrapped, "control")

    async def listen(self, app_id: str, channel: str) -> None:
        """Subscribe and wait (at most one operation timeout) for Redis to confirm, so that a
        publish made after this returns reaches this node. Never raises: while Redis is away
        the channel is subscribed when the listener reconnects."""
        name = self.channel_name(app_id, channel)
        self._names[name] = (app_id, channel)
        pubsub, shards = self._pubsub, self._shards
        if pubsub is None and shards is None:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._confirm.setdefault(name, []).append(waiter)
        try:
            if shards is not None:
                await shards.subscribe(name)
            else:
                await within(pubsub.subscribe(name), self._timeout)
            await within(waiter, self._timeout)
        except REDIS_FAILURES as exc:
            log.warning("subscribe to a redis channel not confirmed: %s", type(exc).__name__)
        finally:
            waiters = self._confirm.get(name)
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._confirm[name]

    async def unlisten(self, app_id: str, channel: str) -> None:
        name = self.channel_name(app_id, channel)
        if self._names.pop(name, None) is None:
            return
        pubsub, shards = self._pubsub, self._shards
        if pubsub is None and shards is None:
            return
        try:
            if shards is not None:
                await shards.unsubscribe(name)
            else:
                await within(pubsub.unsubscribe(name), self._timeout)
        except REDIS_FAILURES as exc:
            # The next reconnection subscribes only to what is still listened to.
            log.warning("unsubscribe from a redis channel failed: %s", type(exc).__name__)

    # -- internals ---------------------------------------------------------------------

    async def _send(self, name: bytes, payload: str, what: str) -> None:
        if self._redis is None:
            raise ServiceUnavailable("the broker is not started")
        if self._sharded:
            await bounded(self._redis.spublish(name, payload), self._timeout, what)
        else:
            await bounded(self._redis.publish(name, payload), self._timeout, what)

    async def _run(self) -> None:
        """Keep one listener alive until cancelled: connect, listen, back off, repeat."""
        backoff = MIN_BACKOFF_SECONDS
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except LISTENER_FAILURES as exc:
                if self._ready:
                    log_event(log, logging.WARNING, "broker listener lost", reason=str(exc))
            except Exception:
                log.exception("broker listener failed")
            finally:
                was_ready, self._ready = self._ready, False
                await self._drop_pubsub()
            self.reconnects += 1
            backoff = MIN_BACKOFF_SECONDS if was_ready else min(backoff * 2, self._heartbeat)
            await asyncio.sleep(backoff)

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        shards, self._shards = self._shards, None
        for waiters in self._confirm.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(ConnectionError("listener reconnecting"))
        if pubsub is not None:
            try:
                await within(pubsub.aclose(), self._timeout)
            except CLOSE_FAILURES:
                pass
        if shards is not None:
            await shards.close()

    async def _listen_once(self) -> None:
        if self._sharded:
            await self._listen_sharded_once()
            return
        assert isinstance(self._redis, aioredis.Redis)
        pubsub: Any = self._redis.pubsub()
        names = [self.control_name, self.ping_name, *self._names]
        try:
            await within(pubsub.subscribe(*names), self._timeout)
        except BaseException:
            # Not yet ours to drop: close it here, or each failed attempt leaks a connection.
            with contextlib.suppress(*CLOSE_FAILURES):
                await within(pubsub.aclose(), self._timeout)
            raise
        self._pubsub = pubsub
        # listen()/unlisten() calls made while this was connecting did not reach Redis.
        added = [n for n in self._names if n not in names]
        removed = [n for n in names[2:] if n not in self._names]
        if added:
            await within(pubsub.subscribe(*added), self._timeout)
        if removed:
            await within(pubsub.unsubscribe(*removed), self._timeout)
        await self._ping()
        self._last_heard = time.monotonic()
        next_ping = time.monotonic() + self._heartbeat
        while True:
            now = time.monotonic()
            if now >= next_ping:
                await self._ping()
                next_ping = now + self._heartbeat
            if now - self._last_heard >= self.deaf_after:
                raise ListenerDeaf(f"no self-ping heard for {self.deaf_after:.1f}s")
            wait = max(0.0, min(next_ping, self._last_heard + self.deaf_after) - now)
            message = await pubsub.get_message(timeout=wait)
            if message is not None:
                self._on_message(message)

    async def _listen_sharded_once(self) -> None:
        assert isinstance(self._redis, RedisCluster)
        shards = ShardedListener(
            self._redis,
            self._settings,
            self._keys,
            self.node_id,
            self._on_message,
            self._heard,
            lambda name: name == self.control_name or name in self._names,
        )
        names = [self.control_name, *self._names]
        try:
            await shards.connect(names, refresh=self.reconnects > 0)
        except BaseException:
            await shards.close()  # not yet ours to drop
            raise
        self._shards = shards
        added = [n for n in self._names if n not in names]
        removed = [n for n in names[1:] if n not in self._names]
        if added:
            await shards.subscribe(*added)
        if removed:
            await shards.unsubscribe(*removed)
        await shards.run(self._heartbeat, self.deaf_after)

    def _heard(self, oldest: float, lag: float) -> None:
        self._last_heard = oldest
        self._ready = True
        self.lag_seconds = lag

    async def _ping(self) -> None:
        assert self._redis is not None
        # The payload is the send time, so hearing it back measures the broker's delay.
        stamp = repr(time.monotonic()).encode()
        await within(self._redis.publish(self.ping_name, stamp), self._timeout)

    def _on_message(self, message: dict[str, Any]) -> None:
        kind, name = message.get("type"), message.get("channel")
        if kind in (b"subscribe", "subscribe", b"ssubscribe", "ssubscribe"):
            for waiter in self._confirm.pop(name, []) if isinstance(name, bytes) else []:
                if not waiter.done():
                    waiter.set_result(None)
            return
        if kind not in (b"message", "message", b"smessage", "smessage"):
            return
        if not isinstance(name, bytes):
            return
        if name == self.ping_name:
            self._last_heard = time.monotonic()
            self._ready = True
            try:
                self.lag_seconds = max(0.0, self._last_heard - float(message.get("data") or b""))
            except (TypeError, ValueError):
                pass
            return
        data = message.get("data")
        try:
            if name == self.control_name:
                self._on_control(data)
            else:
                target = self._names.get(name)
                if target is not None:
                    self._on_channel(target, data)
        except (ValueError, TypeError, KeyError) as exc:
            self._dropped(str(exc))

    def _on_channel(self, target: tuple[str, str], data: Any) -> None:
        app_id, channel = target
        heard = envelope.decode(data, self._node_bytes, channel)
        if heard is not None and self._handler is not None:  # None: delivered when published
            self._handler(app_id, *heard)

    def _on_control(self, data: Any) -> None:
        wrapped = json.loads(data)
        if not isinstance(wrapped, dict):
            raise ValueError("envelope is not an object")
        if wrapped.get("n") == self.node_id:
            return  # handled locally when it was sent
        app_id, command = wrapped.get("a"), wrapped.get("c")
        if not isinstance(app_id, str) or not isinstance(command, dict):
            raise ValueError("bad control envelope")
        if self._control is not None:
            self._control(app_id, command)

    def _dropped(self, why: str) -> None:
        self.dropped_malformed += 1
        now = time.monotonic()
        # One line per second at most, carrying the running count: a flood cannot fill logs.
        if now - self._last_drop_log >= 1.0:
            self._last_drop_log = now
            log_event(
                log,
                logging.WARNING,
                "malformed broker message dropped",
                reason=why,
                dropped_total=self.dropped_malformed,
            )
