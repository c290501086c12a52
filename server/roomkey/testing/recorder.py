"""``Recorder``: what happened in a roomkey during a test, seen through its real seams:
every in-process hook call (registered with ``Roomkey.on``, one per hook kind) and every
event published on the channels it watches (a real subscriber of each). Webhooks are
recorded by ``WebhookReceiver``, a real HTTP endpoint."""

from __future__ import annotations

import asyncio

from aiohttp import web

from roomkey.core.signing import sign_channel
from roomkey.handle import Roomkey
from roomkey.hooks import HOOK_KINDS, HookEvent
from roomkey.testing.events import DEFAULT_TIMEOUT_S, Event, matches
from roomkey.testing.pusher_client import PusherClient
from roomkey.testing.target import TargetLike, target_of

__all__ = ["Recorder"]

# Hook calls a recorder keeps; past that it stops recording and ``next_hook`` fails.
MAX_HOOKS = 10_000


class Recorder:
    """Records hook calls and published events. ``attach(app_or_handle)`` registers one
    hook per kind (hooks registered before or after the start both work); ``await
    watch(server, channel)`` subscribes a watcher of its own to a public, private or
    encrypted channel (not presence: a watcher would be a member); ``close()`` closes the
    watchers (the ``roomkey_recorder`` fixture does that).

    ``hooks``: every ``HookEvent`` in arrival order; ``published(channel)``: what the watcher
    of ``channel`` received so far."""

    def __init__(self) -> None:
        self.hooks: list[HookEvent] = []
        self._hooks_read = 0
        self._hook_arrived = asyncio.Event()
        self._watchers: dict[str, PusherClient] = {}
        self._seen: dict[str, list[Event]] = {}

    def attach(self, where: Roomkey | web.Application) -> Recorder:
        """Record every hook kind of the roomkey set up in ``where``."""
        handle = where if isinstance(where, Roomkey) else Roomkey.of(where)
        for kind in HOOK_KINDS:
            handle.on(kind, self._record)
        return self

    async def _record(self, event: HookEvent) -> None:
        if len(self.hooks) < MAX_HOOKS:
            self.hooks.append(event)
        self._hook_arrived.set()
        self._hook_arrived = asyncio.Event()

    async def next_hook(
        self, kind: str, channel: str | None = None, *, timeout: float = DEFAULT_TIMEOUT_S
    ) -> HookEvent:
        """The next hook call of ``kind`` (on ``channel`` when given) not returned before,
        in arrival order; ``AssertionError`` naming what came instead at the deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i in range(self._hooks_read, len(self.hooks)):
                event = self.hooks[i]
                if event.kind == kind and (channel is None or event.channel == channel):
                    self._hooks_read = i + 1
                    return event
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"no {kind} hook{f' on {channel!r}' if channel else ''} within "
                    f"{timeout:g} s; recorded: {[e.kind for e in self.hooks[self._hooks_read :]]}"
                )
            waiter = self._hook_arrived
            try:
                await asyncio.wait_for(waiter.wait(), remaining)
            except TimeoutError:
                pass

    def kinds(self) -> list[str]:
        """The kinds of the hook calls recorded, in order (handy in an assertion)."""
        return [e.kind for e in self.hooks]

    async def watch(self, where: TargetLike, channel: str) -> None:
        """Subscribe a watcher to ``channel`` from now on: a Pusher-protocol socket whose
        subscription the recorder signs with the app's secret (so it needs no identity and
        no channel rule), as a server-side SDK would. Presence channels are refused
        (``ValueError``): the watcher would join as a member and change what is tested."""
        if channel.startswith("presence-"):
            raise ValueError("a presence channel cannot be watched: the watcher would be a member")
        if channel in self._watchers:
            return
        target = target_of(where)
        watcher = PusherClient(target, origin=None)
        self._watchers[channel] = watcher
        await watcher.connect()
        auth: dict[str, str] = {}
        if channel.startswith("private-"):
            app = target.app
            auth["auth"] = sign_channel(app.key, app.secret, watcher.socket_id, channel)
        await watcher._subscribe(channel, auth, DEFAULT_TIMEOUT_S)

    async def next_published(
        self, channel: str, event: str | None = None, *, timeout: float = DEFAULT_TIMEOUT_S
    ) -> Event:
        """The next event published on the watched ``channel`` (named ``event`` when
        given), as its watcher received it."""
        watcher = self._watchers.get(channel)
        if watcher is None:
            raise LookupError(f"{channel!r} is not watched: await recorder.watch(server, channel)")
        found = await watcher.next_event(channel, event, timeout=timeout)
        self._seen.setdefault(channel, []).append(found)
        return found

    def published(self, channel: str) -> list[Event]:
        """Every event the watcher of ``channel`` has received so far (read or not)."""
        watcher = self._watchers.get(channel)
        unread = watcher.inbox.pending(matches(channel, None)) if watcher else []
        return [*self._seen.get(channel, []), *unread]

    async def close(self) -> None:
        """Close every watcher."""
        watchers, self._watchers = list(self._watchers.values()), {}
        for watcher in watchers:
            await watcher.close()
