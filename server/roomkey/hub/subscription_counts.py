"""Subscription counts (Pusher's ``pusher:subscription_count``), for apps with
``subscription_count``: the subscribers of a non-presence channel hear its cluster-wide count
when it changes, at most once per ``subscription_count_interval_seconds`` per channel.

The hub calls ``changed`` after each join and leave it counted (and for each departure a
dead node's sweep announces). Changes are coalesced (``core/coalescing.py``): the first change
of a quiet channel makes it due one interval later, and whatever else changes it until then
is part of that report. When due, the count is read from the presence store (the
cluster-wide count at that moment, not the one the first change saw) and published through
the broker as a ``SubscriptionCount``, so every node's subscribers hear it, with a
``subscription_count`` webhook (``{"name", "channel", "subscription_count"}``, as Pusher).

Each node reports the changes it saw: with several nodes, a burst spread over them is at
most one message per node per interval, each carrying the count read at its flush.

One task runs the timer; it is started by the first change and ends at ``close``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from roomkey.broker.base import Broker
from roomkey.config import AppSettings
from roomkey.core.coalescing import Coalescer
from roomkey.core.errors import RoomkeyError
from roomkey.core.protocol import SubscriptionCount
from roomkey.logs import log_event
from roomkey.presence.base import PresenceStore
from roomkey.tasks import OwnedTasks, within

if TYPE_CHECKING:
    from roomkey.hub.announcements import WebhookSink

log = logging.getLogger("roomkey.hub")


class SubscriptionCounts:
    def __init__(
        self,
        broker: Broker,
        presence: PresenceStore,
        webhooks: WebhookSink,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._broker = broker
        self._presence = presence
        self._webhooks = webhooks
        self._clock = clock
        self._pending: Coalescer[tuple[str, str]] = Coalescer()
        self._apps: dict[str, AppSettings] = {}
        self._wake = asyncio.Event()
        self._tasks = OwnedTasks()
        self._timer: asyncio.Task[None] | None = None
        self._closed = False

    def changed(self, app: AppSettings, channel: str) -> None:
        """``channel``'s count changed (the caller checked the app counts subscriptions and
        the channel is one whose count is told)."""
        if self._closed:
            return
        self._apps[app.id] = app
        interval = app.subscription_count_interval_seconds
        if self._pending.mark((app.id, channel), self._clock(), interval):
            self._wake.set()
        if self._timer is None:
            self._timer = self._tasks.spawn(self._run(), name="roomkey-subscription-counts")

    async def close(self) -> None:
        """Stop the timer; changes not yet reported are dropped."""
        self._closed = True
        await self._tasks.close()
        self._timer = None

    async def _run(self) -> None:
        while True:
            due = self._pending.next_due()
            self._wake.clear()
            if due is None:
                await self._wake.wait()
                continue
            delay = due - self._clock()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await within(self._wake.wait(), delay)
                continue
            for app_id, channel in self._pending.take_due(self._clock()):
                await self._report(self._apps[app_id], channel)

    async def _report(self, app: AppSettings, channel: str) -> None:
        try:
            count = await self._presence.subscriber_count(app.id, channel)
            await self._broker.publish(app.id, SubscriptionCount(channel, count))
        except RoomkeyError as exc:
            log_event(
                log,
                logging.WARNING,
                "subscription count not sent",
                repeat_key=f"subscription-count:{app.id}",
                app=app.id,
                error=exc.message,
            )
            return
        except Exception:
            # The timer serves every channel: one failure must not stop it.
            log.exception("subscription count on app %s failed", app.id)
            return
        self._webhooks.emit(
            app, {"name": "subscription_count", "channel": channel, "subscription_count": count}
        )
