"""Webhook events in this process (``debounce.PendingEvents`` per app). A real store, not a
double: one node, so leases never expire to anyone else and a shutdown loses what it held."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from roomkey.webhooks.base import WebhookStore
from roomkey.webhooks.debounce import Claimed, PendingEvents, Pushed


class MemoryWebhookStore(WebhookStore):
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._apps: dict[str, PendingEvents] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _pending(self, app_id: str, cap: int = 0) -> PendingEvents:
        pending = self._apps.get(app_id)
        if pending is None:
            pending = self._apps[app_id] = PendingEvents(cap)
        return pending

    async def push(
        self, app_id: str, events: Sequence[dict[str, Any]], delay_seconds: float, cap: int
    ) -> list[Pushed]:
        pending = self._pending(app_id, cap)
        now = self._clock()
        return [pending.push(event, delay_seconds, now) for event in events]

    async def claim(self, app_id: str, limit: int, lease_seconds: float) -> list[Claimed]:
        pending = self._apps.get(app_id)
        return pending.claim(self._clock(), limit) if pending is not None else []

    async def renew(self, app_id: str, ids: Sequence[str], lease_seconds: float) -> None:
        return None

    async def ack(self, app_id: str, ids: Sequence[str]) -> None:
        pending = self._apps.get(app_id)
        if pending is not None:
            pending.ack(list(ids))

    async def release(self, app_id: str, ids: Sequence[str]) -> None:
        pending = self._apps.get(app_id)
        if pending is not None:
            pending.release(list(ids), self._clock())

    @property
    def depth(self) -> int:
        return sum(len(p) for p in self._apps.values())
