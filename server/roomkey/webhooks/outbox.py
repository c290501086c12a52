"""The bounded outbox in front of a ``WebhookStore``: the hub's events go in without waiting,
and one task moves them, in order, into the store (where leaves wait out their delay).

Shared by the webhook dispatcher and the hooks' relay (``roomkey.hook_relay``), each with a
store of its own. ``put`` never blocks: a full outbox refuses the event and the owner counts
the drop. ``run`` (the owner's task) stores events one call per run of the same app, at most
``MAX_PUSH`` at a time; while the store cannot be reached it retries the same batch with
backoff (a push that timed out may have been stored: retried, it is stored twice, so the
hand-off is at least once) and the outbox fills. ``flush`` at shutdown stores what is left.

``StoreHealth`` logs a store that stopped answering once, and once again when it answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from roomkey.config import AppSettings
from roomkey.core.errors import RoomkeyError
from roomkey.logs import log_event
from roomkey.webhooks.base import WebhookStore
from roomkey.webhooks.debounce import Pushed

MAX_PUSH = 500  # events moved from the outbox to the store per call
STORE_BACKOFF_SECONDS = (0.05, 2.0)  # the store unreachable: first and longest wait


class StoreHealth:
    """Logs on ``log`` when ``what`` (e.g. "webhook store") stops answering, once per run of
    failures, and when it answers again."""

    def __init__(self, log: logging.Logger, what: str) -> None:
        self._log = log
        self._what = what
        self._failing = False

    def problem(self, exc: RoomkeyError) -> None:
        if not self._failing:
            self._failing = True
            log_event(self._log, logging.WARNING, f"{self._what} unavailable", problem=exc.message)

    def ok(self) -> None:
        if self._failing:
            self._failing = False
            log_event(self._log, logging.INFO, f"{self._what} available again")


class StoreOutbox:
    """Events on their way into ``store``. ``leave_delay`` and ``cap`` are the store's
    (``WebhookStore.push``); ``on_full(app, count)`` hears every event the store refused
    as full; ``stored`` is set after each batch reaches the store (the owner's claimer
    waits on it)."""

    def __init__(
        self,
        store: WebhookStore,
        size: int,
        *,
        leave_delay: float,
        cap: int,
        on_full: Callable[[AppSettings, int], None],
        health: StoreHealth,
    ) -> None:
        self._store = store
        self._size = size
        self._leave_delay = leave_delay
        self._cap = cap
        self._on_full = on_full
        self._health = health
        self._queue: asyncio.Queue[tuple[AppSettings, dict[str, Any]]] = asyncio.Queue(size)
        self.stored = asyncio.Event()
        self.absorbed = 0  # held leaves cancelled by a re-join (each pair is never sent)

    def reset(self) -> None:
        """A fresh queue and event in the running loop (an application started again)."""
        self._queue = asyncio.Queue(self._size)
        self.stored = asyncio.Event()

    def put(self, app: AppSettings, event: dict[str, Any]) -> bool:
        """Queue ``event``; False when the outbox is full (the caller counts the drop)."""
        try:
            self._queue.put_nowait((app, event))
        except asyncio.QueueFull:
            return False
        return True

    def qsize(self) -> int:
        return self._queue.qsize()

    async def run(self) -> None:
        """Move events into the store until cancelled."""
        while True:
            batch = [await self._queue.get(), *self._take(MAX_PUSH - 1)]
            wait = STORE_BACKOFF_SECONDS[0]
            while True:
                try:
                    await self._push(batch)
                    break
                except RoomkeyError as exc:
                    self._health.problem(exc)
                    await asyncio.sleep(wait)
                    wait = min(wait * 2, STORE_BACKOFF_SECONDS[1])
            self._health.ok()
            self.stored.set()

    async def flush(self) -> None:
        """Store what the outbox still holds (shutdown; a store error raises)."""
        while not self._queue.empty():
            await self._push(self._take(MAX_PUSH))

    def _take(self, limit: int) -> list[tuple[AppSettings, dict[str, Any]]]:
        batch: list[tuple[AppSettings, dict[str, Any]]] = []
        while len(batch) < limit and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _push(self, batch: list[tuple[AppSettings, dict[str, Any]]]) -> None:
        """Store ``batch`` in order, one call per run of events of the same app (a failed
        call raises; the runs before it are stored and left out of ``batch``, so a retry
        skips them)."""
        while batch:
            app = batch[0][0]
            end = 0
            while end < len(batch) and batch[end][0] is app:
                end += 1
            events = [event for _, event in batch[:end]]
            results = await self._store.push(app.id, events, self._leave_delay, self._cap)
            del batch[:end]
            self.absorbed += results.count(Pushed.CANCELLED)
            full = results.count(Pushed.FULL)
            if full:
                self._on_full(app, full)
