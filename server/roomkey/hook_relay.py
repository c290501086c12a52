"""Channel and member events on their way to the in-process hooks, with the webhooks' timing:
through a webhook store of their own (``webhooks.base.WebhookStore``, queue ``"hook"``:
memory, or Redis shared by every node), so that ``member_removed`` and ``channel_vacated``
wait ``[webhooks] leave_delay_seconds`` and a member or channel back within it (on any node)
fires no hook at all, as no webhook (``webhooks.debounce``).

The path of an event (``HookRelay`` is the hub's ``hooks`` sink):

1. ``emit`` never blocks. ``channel_occupied``, ``channel_vacated``, ``member_added`` and
   ``member_removed`` are kept when this node has a hook for the kind or for its pair (a
   re-join must reach the store to cancel a held leave), stamped with the time they
   happened, and put on a bounded outbox (``[hooks] queue_size``). Any other kind
   (``client_event``) goes straight to ``Hooks.emit``: it is not held, as webhooks do not
   hold it, and is fired once, by the node it was sent to.
2. One task (``webhooks.outbox.StoreOutbox``, as for webhooks) moves the outbox, in order,
   into the store, which applies the leave delay and
   keeps at most ``queue_size`` events per app. While the store cannot be reached the task
   retries with backoff and the outbox fills. A full outbox or store drops the event, counted
   with the hooks' drops (``Hooks.drop``: ``roomkey_hook_drops_total``).
3. One task claims due events app by app (woken by a push, else every ``POLL_SECONDS``),
   hands each to ``Hooks.emit`` (its bounded queue: concurrency, timeout) and acks them at
   once. A node claims only while it has a hook for some channel or member kind: every node
   of a cluster is expected to register the same hooks (one application).

Each event is claimed by one node, so with Redis the hooks of one node in the cluster run for
it. The hand-off is at least once, like webhooks: a node that dies (or loses Redis) between
its claim and its ack lets the claim run out (``[webhooks] claim_seconds``) and another node
hands the events to its hooks again. A hook call itself is at most once: a hook that raises
or times out is not called again, and what a node holds in its outbox or hook queue when it
dies is lost (memory: held leaves are lost at shutdown too; Redis: another node fires them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from roomkey.config import AppSettings, HookSettings, WebhookSettings
from roomkey.core.errors import RoomkeyError
from roomkey.hooks import Hooks
from roomkey.logs import log_event
from roomkey.metrics import Metrics
from roomkey.tasks import OwnedTasks, within
from roomkey.webhooks.base import WebhookStore
from roomkey.webhooks.debounce import PAIRED
from roomkey.webhooks.outbox import StoreHealth, StoreOutbox

log = logging.getLogger("roomkey.hooks")

# Held leaves coming due, a dead node's claims run out: looked for this often (the webhooks'
# default batch_ms); an event this node stores is claimed at once.
POLL_SECONDS = 0.25
MAX_CLAIM = 100  # events claimed per app per call
FLUSH_SECONDS = 2.0  # at shutdown: moving the outbox to the store


class HookRelay:
    """The hub's ``hooks`` sink (a ``WebhookSink``) in front of ``hooks``. ``start()`` after
    ``hooks.start()``, ``close()`` before ``hooks.close()``. ``apps``: the apps whose events
    the store may hold (with Redis, other nodes' too); apps seen by ``emit`` are added."""

    def __init__(
        self,
        hooks: Hooks,
        store: WebhookStore,
        settings: HookSettings,
        timing: WebhookSettings,
        apps: Iterable[AppSettings] = (),
    ) -> None:
        self.hooks = hooks
        self.store = store
        self._lease = timing.claim_seconds
        self._apps: dict[str, AppSettings] = {a.id: a for a in apps}
        self._health = StoreHealth(log, "hook store")
        self._outbox = StoreOutbox(
            store,
            settings.queue_size,
            leave_delay=timing.leave_delay_seconds,
            cap=settings.queue_size,
            on_full=lambda app, count: hooks.drop(app.id, count),
            health=self._health,
        )
        self._workers = OwnedTasks()

    @property
    def absorbed(self) -> int:
        """Held leaves cancelled by a re-join (each pair fires nothing)."""
        return self._outbox.absorbed

    # -- lifetime ----------------------------------------------------------------------

    async def start(self, metrics: Metrics | None = None) -> None:
        # Made again in the running loop: an application may be started more than once.
        self._outbox.reset()
        if metrics is not None:
            metrics.hook_queue_depth.set_function(lambda: self.hooks.queued + self.waiting)
        await self.store.start()
        self._workers.spawn(self._outbox.run(), name="roomkey-hooks-push")
        self._workers.spawn(self._claim_forever(), name="roomkey-hooks-claim")

    async def close(self) -> None:
        """Stop claiming; move what the outbox holds to the store within ``FLUSH_SECONDS``
        (with Redis another node fires it), then close the store."""
        await self._workers.close()
        try:
            await within(self._outbox.flush(), FLUSH_SECONDS)
        except (RoomkeyError, TimeoutError):
            log_event(log, logging.WARNING, "hook events not handed over at shutdown")
        await self.store.close()

    @property
    def waiting(self) -> int:
        """Events on their way to the hooks: in the outbox or in the store (with Redis, the
        store's part as of this node's last claim)."""
        return self._outbox.qsize() + self.store.depth

    # -- the hot path: never blocks ----------------------------------------------------

    def emit(self, app: AppSettings, event: dict[str, Any]) -> None:
        """The hub's event: a channel or member event to the store, if this node has a hook
        for it or its pair; any other to the hooks now."""
        name = event.get("name")
        if not isinstance(name, str) or name not in PAIRED:
            self.hooks.emit(app, event)
            return
        if not (self.hooks.wants(name) or self.hooks.wants(PAIRED[name])):
            return
        self._apps.setdefault(app.id, app)
        if not self._outbox.put(app, {**event, "time_ms": int(time.time() * 1000)}):
            self.hooks.drop(app.id)

    # -- store -> hooks ----------------------------------------------------------------

    async def _claim_forever(self) -> None:
        while True:
            try:
                await within(self._outbox.stored.wait(), POLL_SECONDS)
            except TimeoutError:
                pass
            self._outbox.stored.clear()
            if not any(self.hooks.wants(kind) for kind in PAIRED):
                continue
            try:
                for app in list(self._apps.values()):
                    while await self._claim(app):
                        pass
                self._health.ok()
            except RoomkeyError as exc:
                self._health.problem(exc)

    async def _claim(self, app: AppSettings) -> bool:
        """Hand the app's due events to the hooks and ack them; True when more may be due."""
        claimed = await self.store.claim(app.id, MAX_CLAIM, self._lease)
        for c in claimed:
            event = dict(c.event)
            time_ms = event.pop("time_ms", None)
            self.hooks.emit(app, event, time_ms if isinstance(time_ms, int) else None)
        if claimed:
            # Not acked (Redis unreachable): the claim runs out and the events fire again.
            await self.store.ack(app.id, [c.id for c in claimed])
        return len(claimed) == MAX_CLAIM
