"""Webhooks as Pusher sends them: batched, signed, delivered off the hot path, retried.

``WebhookDispatcher.emit`` (the hub's ``WebhookSink``) never blocks: it keeps only the events
some target of the app wants and puts them on a bounded queue; a full queue drops the event,
counts it (``dropped``) and logs once per burst. One collector task gathers events for
``batch_ms``, groups them by app and target (each target's ``event_types`` filter), and hands
each batch to a sender task. At most ``MAX_IN_FLIGHT`` batches are being sent or retried at
once; past that the collector waits, so a dead target fills the queue instead of memory.

A batch is ``POST``ed as ``{"time_ms", "events": [...]}`` with ``X-Pusher-Key`` and
``X-Pusher-Signature`` = HMAC-SHA256(app secret, the exact body bytes). Redirects are never
followed: only the configured URL ever receives a webhook. A non-2xx answer, a timeout or a
connection error is retried with capped exponential backoff and full jitter until
``retry_for_seconds`` have passed; then the batch is given up (``failed``), logged once per
run of failures of that target.

With a ``Metrics`` object the dispatcher exports ``roomkey_webhook_queue_depth`` (events
waiting, read at scrape time), ``roomkey_webhook_retries_total`` (deliveries retried) and
``roomkey_webhook_drops_total`` by ``cause``: ``queue_full`` (an event refused by the full
queue) or ``retries_exhausted`` (the events of a batch given up).

``channel_vacated`` and ``member_removed`` are sent as soon as they happen (Pusher delays them a
few seconds to absorb reconnects).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from roomkey.config import AppSettings, WebhookSettings, WebhookTarget
from roomkey.core.protocol import dumps
from roomkey.core.signing import webhook_signature
from roomkey.logs import log_event
from roomkey.metrics import Metrics
from roomkey.tasks import cancel_and_wait

log = logging.getLogger("roomkey.webhooks")

MAX_IN_FLIGHT = 32
MAX_EVENTS_PER_BATCH = 100
BASE_BACKOFF_SECONDS = 0.5


def webhook_body(events: list[dict[str, Any]], time_ms: int) -> bytes:
    """The exact bytes sent (and signed)."""
    return dumps({"time_ms": time_ms, "events": events}).encode()


def backoff_delay(attempt: int, cap: float, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based): full jitter over
    ``min(cap, base * 2**(attempt-1))``, never below a tenth of that ceiling."""
    ceiling = min(cap, BASE_BACKOFF_SECONDS * 2.0 ** min(attempt - 1, 30))
    return ceiling * (0.1 + 0.9 * rng())


class WebhookDispatcher:
    """The hub's webhook sink. ``start()`` before use, ``close()`` at shutdown (cancels the
    collector and every sender; events not yet sent are lost)."""

    def __init__(self, settings: WebhookSettings, *, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self._queue: asyncio.Queue[tuple[AppSettings, dict[str, Any]]] = asyncio.Queue(
            settings.queue_size
        )
        self._metrics = metrics
        if metrics is not None:
            metrics.webhook_queue_depth.set_function(lambda: self.queued)
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._collector: asyncio.Task[None] | None = None
        self._senders: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._dropping = False
        self._burst_drops = 0
        self._failing: set[str] = set()
        self.dropped = 0  # events refused because the queue was full
        self.delivered = 0  # batches a target accepted (2xx)
        self.failed = 0  # batches given up after retry_for_seconds

    # -- lifetime ----------------------------------------------------------------------

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout_seconds),
            trust_env=False,
        )
        self._collector = asyncio.create_task(self._collect(), name="roomkey-webhooks")

    async def close(self) -> None:
        await cancel_and_wait([*self._senders, *([self._collector] if self._collector else [])])
        self._collector = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def queued(self) -> int:
        """Events waiting to be batched (``roomkey_webhook_queue_depth``)."""
        return self._queue.qsize()

    # -- the hot path ------------------------------------------------------------------

    def emit(self, app: AppSettings, event: dict[str, Any]) -> None:
        """Queue ``event`` if any of the app's targets wants it. Never blocks."""
        name = event.get("name")
        if not any(name in target.event_types for target in app.webhooks):
            return
        try:
            self._queue.put_nowait((app, event))
        except asyncio.QueueFull:
            self.dropped += 1
            self._burst_drops += 1
            if self._metrics is not None:
                self._metrics.webhook_drops.labels("queue_full").inc()
            if not self._dropping:
                self._dropping = True
                log_event(log, logging.WARNING, "webhook queue full: dropping events", app=app.id)
            return
        if self._dropping:
            self._dropping = False
            log_event(
                log,
                logging.WARNING,
                "webhook queue accepting again",
                dropped=self._burst_drops,
                dropped_total=self.dropped,
            )
            self._burst_drops = 0

    # -- the worker --------------------------------------------------------------------

    async def _collect(self) -> None:
        window = self.settings.batch_ms / 1000
        while True:
            batch = [await self._queue.get()]
            # Sleep, then drain: no per-item timeouts (and no wait_for, whose cancellation
            # can be lost on Python 3.11 when the item arrives at the same moment).
            await asyncio.sleep(window)
            while len(batch) < MAX_EVENTS_PER_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._dispatch(batch)

    async def _dispatch(self, batch: list[tuple[AppSettings, dict[str, Any]]]) -> None:
        by_app: dict[str, tuple[AppSettings, list[dict[str, Any]]]] = {}
        for app, event in batch:
            by_app.setdefault(app.id, (app, []))[1].append(event)
        time_ms = int(time.time() * 1000)
        for app, events in by_app.values():
            for target in app.webhooks:
                wanted = [e for e in events if e.get("name") in target.event_types]
                if not wanted:
                    continue
                await self._slots.acquire()
                task = asyncio.create_task(
                    self._send(app, target, webhook_body(wanted, time_ms), len(wanted))
                )
                self._senders.add(task)
                task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._senders.discard(task)
        self._slots.release()

    async def _send(
        self, app: AppSettings, target: WebhookTarget, body: bytes, events: int
    ) -> None:
        """Deliver one batch of ``events`` events, retrying until ``retry_for_seconds``."""
        assert self._session is not None
        headers = {
            "Content-Type": "application/json",
            "X-Pusher-Key": app.key,
            "X-Pusher-Signature": webhook_signature(app.secret, body),
        }
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self.settings.retry_for_seconds
        attempt = 0
        while True:
            attempt += 1
            problem = await self._post(target.url, body, headers)
            if problem is None:
                self.delivered += 1
                if target.url in self._failing:
                    self._failing.discard(target.url)
                    log_event(log, logging.INFO, "webhook target recovered", app=app.id)
                return
            delay = backoff_delay(attempt, self.settings.max_backoff_seconds)
            if loop.time() + delay > give_up_at:
                break
            await asyncio.sleep(delay)
            if self._metrics is not None:
                self._metrics.webhook_retries.inc()
        self.failed += 1
        if self._metrics is not None:
            self._metrics.webhook_drops.labels("retries_exhausted").inc(events)
        if target.url not in self._failing:
            self._failing.add(target.url)
            # The URL may carry a token in its query: log the app and the problem only.
            log_event(
                log,
                logging.WARNING,
                "webhook batch given up",
                app=app.id,
                problem=problem,
                attempts=attempt,
            )

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> str | None:
        """None when the target accepted the batch, else what went wrong."""
        assert self._session is not None
        try:
            async with self._session.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                if 200 <= resp.status < 300:
                    return None
                return f"status {resp.status}"
        except TimeoutError:
            return "timeout"
        except aiohttp.ClientError as exc:
            return type(exc).__name__
