"""Webhooks as Pusher sends them: delayed leaves, batched, signed, retried, and (with Redis)
kept in Redis until an app accepted them.

The path of an event:

1. ``WebhookDispatcher.emit`` (the hub's ``WebhookSink``) never blocks: it keeps only the
   events some target of the app wants and puts them on a bounded outbox (``queue_size``); a
   full outbox drops the event, counts it (``dropped``, ``roomkey_webhook_drops_total{cause=
   "queue_full"}``) and logs once per burst.
2. One task (``outbox.StoreOutbox``) moves the outbox, in order, into the ``WebhookStore`` (``factory``: memory, or
   Redis shared by every node). There ``member_removed`` and ``channel_vacated`` wait
   ``leave_delay_seconds``; a ``member_added`` for the same user and channel, or a
   ``channel_occupied`` for the same channel, arriving within the window (from any node)
   cancels the held event and is dropped with it (``absorbed``): a reload fires nothing.
   The store keeps at most ``queue_size`` events per app; past that an event is dropped and
   counted as above. While the store cannot be reached the task retries with backoff and
   the outbox fills.
3. One task claims due events app by app (when woken by a push, after gathering for
   ``batch_ms``, else every ``batch_ms``), at most ``MAX_EVENTS_PER_BATCH`` at a time, and
   hands each claim to a sender task: one batch per target (each target's ``event_types``),
   sent and retried by ``delivery.WebhookSender`` for ``retry_for_seconds``. Once every
   target accepted or gave up its batch, the events are acked (removed from the store). At
   most ``MAX_IN_FLIGHT`` claims are being sent at once; past that nothing more is claimed
   and the store fills instead of memory.
4. A claim is a lease of ``claim_seconds``, renewed every third of it while its sender runs.
   With Redis, a node that dies stops renewing; its claimed events come due again when the
   lease runs out and another node sends them (and their retry period starts again). At
   shutdown, claims still being sent are released (due at once, for another node).

Delivery is at least once: when a duplicate can happen is documented in ``webhooks/redis.py``
and docs/publishing.md. An event still in the outbox when the process dies is lost (it has
not reached Redis yet: a moment after ``emit``).

With a ``Metrics`` object the dispatcher exports ``roomkey_webhook_queue_depth`` (events in
the outbox and the store, read at scrape time; with Redis, the store's part as of this
node's last claim), ``roomkey_webhook_retries_total`` and ``roomkey_webhook_drops_total``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

from roomkey.config import AppSettings, WebhookSettings
from roomkey.core.errors import RoomkeyError
from roomkey.logs import DropBursts, log_event
from roomkey.metrics import Metrics
from roomkey.tasks import OwnedTasks, within
from roomkey.webhooks.base import WebhookStore
from roomkey.webhooks.debounce import PAIRED, Claimed
from roomkey.webhooks.delivery import WebhookSender, webhook_body
from roomkey.webhooks.memory import MemoryWebhookStore
from roomkey.webhooks.outbox import StoreHealth, StoreOutbox

log = logging.getLogger("roomkey.webhooks")

MAX_IN_FLIGHT = 32
MAX_EVENTS_PER_BATCH = 100
FLUSH_SECONDS = 2.0  # at shutdown: moving the outbox to the store, releasing claims


class WebhookDispatcher:
    """The hub's webhook sink. ``start()`` before use, ``close()`` at shutdown. ``store``:
    where events wait (default: this process's memory). ``apps``: the apps whose events
    the store may hold (with Redis, other nodes' too); apps seen by ``emit`` are added."""

    def __init__(
        self,
        settings: WebhookSettings,
        *,
        metrics: Metrics | None = None,
        store: WebhookStore | None = None,
        apps: Iterable[AppSettings] = (),
    ) -> None:
        self.settings = settings
        self.store: WebhookStore = store if store is not None else MemoryWebhookStore()
        self._apps: dict[str, AppSettings] = {a.id: a for a in apps if a.webhooks}
        self._health = StoreHealth(log, "webhook store")
        self._outbox = StoreOutbox(
            self.store,
            settings.queue_size,
            leave_delay=settings.leave_delay_seconds,
            cap=settings.queue_size,
            on_full=self._drop,
            health=self._health,
        )
        self._metrics = metrics
        if metrics is not None:
            metrics.webhook_queue_depth.set_function(lambda: self.queued)
        self._sender = WebhookSender(settings, metrics)
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._workers = OwnedTasks()
        self._senders = OwnedTasks()
        self._in_flight: dict[str, set[str]] = {}  # app id -> claimed ids being sent
        self._drops = DropBursts(log, "webhook queue")

    @property
    def dropped(self) -> int:
        """Events refused: outbox or store full."""
        return self._drops.total

    @property
    def absorbed(self) -> int:
        """Held leaves cancelled by a re-join (each pair sends nothing)."""
        return self._outbox.absorbed

    @property
    def delivered(self) -> int:
        """Batches a target accepted (2xx)."""
        return self._sender.delivered

    @property
    def failed(self) -> int:
        """Batches given up after ``retry_for_seconds``."""
        return self._sender.failed

    # -- lifetime ----------------------------------------------------------------------

    async def start(self) -> None:
        await self.store.start()
        self._sender.open()
        self._workers.spawn(self._outbox.run(), name="roomkey-webhooks-push")
        self._workers.spawn(self._claim_forever(), name="roomkey-webhooks-claim")
        self._workers.spawn(self._renew_forever(), name="roomkey-webhooks-renew")

    async def close(self) -> None:
        """Stop claiming; move what the outbox holds to the store and release the claims
        still being sent (each within ``FLUSH_SECONDS``: with Redis another node sends
        them; in memory they are lost), then close the store."""
        await self._workers.close()
        await self._senders.close()
        try:
            await within(self._flush(), FLUSH_SECONDS)
        except (RoomkeyError, TimeoutError):
            log_event(log, logging.WARNING, "webhooks not handed over at shutdown")
        await self._sender.close()
        await self.store.close()

    async def _flush(self) -> None:
        await self._outbox.flush()
        for app_id, ids in list(self._in_flight.items()):
            await self.store.release(app_id, sorted(ids))
        self._in_flight.clear()

    @property
    def queued(self) -> int:
        """Events waiting: in the outbox, or in the store and not being sent by this node
        (``roomkey_webhook_queue_depth``)."""
        sending = sum(len(ids) for ids in self._in_flight.values())
        return self._outbox.qsize() + max(0, self.store.depth - sending)

    # -- the hot path ------------------------------------------------------------------

    def emit(self, app: AppSettings, event: dict[str, Any]) -> None:
        """Queue ``event`` (any event type) if any of the app's targets wants it or its
        partner (``PAIRED``: a leave and the re-join that cancels it). Never blocks."""
        name = event.get("name")
        partner = PAIRED.get(name) if isinstance(name, str) else None
        if not any(
            name in target.event_types or partner in target.event_types for target in app.webhooks
        ):
            return
        self._apps.setdefault(app.id, app)
        if not self._outbox.put(app, event):
            self._drop(app, 1)
            return
        self._drops.accepted()

    def _drop(self, app: AppSettings, count: int) -> None:
        if self._metrics is not None:
            self._metrics.webhook_drops.labels("queue_full").inc(count)
        self._drops.dropped(count, app=app.id)

    # -- store -> targets --------------------------------------------------------------

    async def _claim_forever(self) -> None:
        window = self.settings.batch_ms / 1000
        poll = max(window, 0.05)
        while True:
            woken = await self._woken(poll)
            if woken and window:
                await asyncio.sleep(window)  # gather what comes with it into one batch
            self._outbox.stored.clear()
            try:
                while await self._claim_round():
                    pass
                self._health.ok()
            except RoomkeyError as exc:
                self._health.problem(exc)

    async def _woken(self, seconds: float) -> bool:
        try:
            await within(self._outbox.stored.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _claim_round(self) -> bool:
        """Claim what is due for each app; True when some app may have more."""
        more = False
        for app in list(self._apps.values()):
            await self._slots.acquire()
            try:
                claimed = await self.store.claim(
                    app.id, MAX_EVENTS_PER_BATCH, self.settings.claim_seconds
                )
            except BaseException:
                self._slots.release()
                raise
            if not claimed:
                self._slots.release()
                continue
            more = more or len(claimed) == MAX_EVENTS_PER_BATCH
            self._in_flight.setdefault(app.id, set()).update(c.id for c in claimed)
            task = self._senders.spawn(self._deliver(app, claimed), name="roomkey-webhook-send")
            task.add_done_callback(lambda _: self._slots.release())
        return more

    async def _deliver(self, app: AppSettings, claimed: list[Claimed]) -> None:
        """Send one claim to every target that wants some of it, then ack it. Cancelled
        (shutdown): the claim stays in flight for ``close`` to release."""
        time_ms = int(time.time() * 1000)
        sends = []
        for target in app.webhooks:
            wanted = [c.event for c in claimed if c.event.get("name") in target.event_types]
            if wanted:
                body = webhook_body(wanted, time_ms)
                sends.append(self._sender.send(app, target, body, len(wanted)))
        await asyncio.gather(*sends)
        ids = [c.id for c in claimed]
        try:
            await self.store.ack(app.id, ids)
        except RoomkeyError as exc:
            # The claim runs out and another claim sends these events again.
            self._health.problem(exc)
        held = self._in_flight.get(app.id, set())
        held.difference_update(ids)
        if not held:
            self._in_flight.pop(app.id, None)

    async def _renew_forever(self) -> None:
        every = self.settings.claim_seconds / 3
        while True:
            await asyncio.sleep(every)
            for app_id, ids in list(self._in_flight.items()):
                try:
                    await self.store.renew(app_id, sorted(ids), self.settings.claim_seconds)
                except RoomkeyError as exc:
                    self._health.problem(exc)
