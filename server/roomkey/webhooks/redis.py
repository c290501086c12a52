"""Webhook events in Redis, shared by every node (scripts: ``redis_scripts.py``; key names:
``redis_keys.py``): a node that dies loses nothing it had pushed, and each due event is
claimed by one node at a time.

A claim lasts ``lease_seconds`` and the claiming node renews it while it delivers; a node
that dies (or cannot reach Redis to renew) lets it expire, and the event is due again for
any node. Hence at least once: an event is sent twice when a node's POST reached the app but
its ``ack`` did not reach Redis (it died, or Redis failed, in between), or when a claim
expired while its node still delivered (Redis unreachable for a whole lease, or a process
stalled that long).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from roomkey.config import RedisSettings
from roomkey.core.errors import ServiceUnavailable
from roomkey.core.protocol import dumps
from roomkey.redis_client import RedisClient, bounded, open_redis, text
from roomkey.redis_keys import EVENT_QUEUES, RedisKeys
from roomkey.webhooks import redis_scripts as lua
from roomkey.webhooks.base import WebhookStore
from roomkey.webhooks.debounce import Claimed, Pushed, cancel_key, hold_key


class RedisWebhookStore(WebhookStore):
    """``queue``: whose events (``redis_keys.EVENT_QUEUES``): ``"webhook"``, or ``"hook"``
    for the in-process hooks' (``hook_relay.py``), under key names of their own."""

    def __init__(self, settings: RedisSettings, node_id: str, queue: str = "webhook") -> None:
        self._settings = settings
        self.node_id = node_id
        if queue not in EVENT_QUEUES:
            raise ValueError(f"unknown event queue {queue!r}")
        self._queue = queue
        self._keys = RedisKeys(settings.prefix)
        self._timeout = settings.operation_timeout_seconds
        self._redis: RedisClient | None = None
        self._scripts: dict[str, Any] = {}
        self._depths: dict[str, int] = {}

    async def start(self) -> None:
        self._redis = open_redis(self._settings, name=f"roomkey-{self._queue}s")
        for name in ("PUSH", "CLAIM", "RENEW", "ACK"):
            self._scripts[name] = self._redis.register_script(getattr(lua, name))

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def push(
        self, app_id: str, events: Sequence[dict[str, Any]], delay_seconds: float, cap: int
    ) -> list[Pushed]:
        args: list[Any] = [cap, int(delay_seconds * 1000)]
        for event in events:
            hold = hold_key(event) if delay_seconds > 0 else ""
            cancels = cancel_key(event) if delay_seconds > 0 else ""
            args += [dumps({"k": hold, "e": event}), hold, cancels]
        results = await self._run("PUSH", app_id, args)
        return [Pushed(int(r)) for r in results]

    async def claim(self, app_id: str, limit: int, lease_seconds: float) -> list[Claimed]:
        flat = await self._run("CLAIM", app_id, [self.node_id, _ms(lease_seconds), limit])
        self._depths[app_id] = int(flat[0])
        out = []
        for i in range(1, len(flat) - 1, 2):
            record = json.loads(flat[i + 1])
            out.append(Claimed(text(flat[i]), record["e"]))
        # Ids grow with each push: sorted, a batch keeps the order events were emitted in.
        out.sort(key=lambda c: int(c.id))
        return out

    async def renew(self, app_id: str, ids: Sequence[str], lease_seconds: float) -> None:
        if ids:
            await self._run("RENEW", app_id, [self.node_id, _ms(lease_seconds), *ids])

    async def ack(self, app_id: str, ids: Sequence[str]) -> None:
        if ids:
            await self._run("ACK", app_id, list(ids))

    async def release(self, app_id: str, ids: Sequence[str]) -> None:
        await self.renew(app_id, ids, 0.0)

    @property
    def depth(self) -> int:
        return sum(self._depths.values())

    @property
    def _r(self) -> RedisClient:
        if self._redis is None:
            raise ServiceUnavailable("the webhook store is not started")
        return self._redis

    async def _run(self, name: str, app_id: str, args: list[Any]) -> Any:
        if self._redis is None:
            raise ServiceUnavailable("the webhook store is not started")
        call = self._scripts[name](keys=self._keys.webhooks(app_id, self._queue), args=args)
        return await bounded(call, self._timeout, f"webhook {name.lower()}")


def _ms(seconds: float) -> int:
    return max(0, int(seconds * 1000))
