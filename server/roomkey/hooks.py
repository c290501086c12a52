"""In-process hooks: ``async def`` callables an embedding application registers
(``Roomkey.on``) for channel and member life events, client events and connections.

Where the events come from:

- ``channel_occupied``, ``channel_vacated``, ``member_added`` and ``member_removed`` are
  taken where webhooks are (the hub hands each event to its webhook sink and to its ``hooks``
  sink at the same point) and reach the hooks with the webhooks' timing, through
  ``hook_relay.HookRelay``: a leave waits ``[webhooks] leave_delay_seconds`` and a member or
  channel back within it fires nothing (a page reload: no hook at all); with Redis this holds
  cluster-wide and each event is handed to the hooks of one node (at least once; a hook call
  at most once: see ``hook_relay``);
- ``client_event`` is fired at once, by the node the client sent it to;
- ``connection_open`` and ``connection_close`` are per node: each node fires them for its own
  sockets.

What a hook costs is bounded (``[hooks]``, ``HookSettings``): ``emit`` never blocks and never
awaits (nor does ``HookRelay.emit``); it puts the event on a bounded queue (``queue_size``; full: the event is dropped,
counted in ``roomkey_hook_drops_total`` and logged once per burst). One worker task takes
events in order and starts one call per registered hook, at most ``concurrency`` calls at
once, each cancelled after ``timeout_seconds``. A hook that raises or runs too long is counted
in ``roomkey_hook_failures_total{kind,cause}`` and logged once until it succeeds again, with
the exception's type and source position only (never its message nor the event's values).
Deliveries never wait for hooks; a slow hook holds one of the ``concurrency`` slots for at
most ``timeout_seconds``. Calls may finish out of order (``concurrency = 1``: in order).
At shutdown the worker and the calls still running are cancelled; events still queued are
dropped.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args

from roomkey.config import AppSettings, HookSettings
from roomkey.hub.connection import Connection
from roomkey.logs import DropBursts, exception_fields, log_event
from roomkey.metrics import Metrics
from roomkey.tasks import OwnedTasks, cancel_and_wait

log = logging.getLogger("roomkey.hooks")

HookKind = Literal[
    "channel_occupied",
    "channel_vacated",
    "member_added",
    "member_removed",
    "client_event",
    "connection_open",
    "connection_close",
]
"""The kinds of event a hook can be registered for."""

HOOK_KINDS: tuple[HookKind, ...] = get_args(HookKind)


@dataclass(frozen=True, slots=True)
class HookEvent:
    """One event handed to the hooks registered for its ``kind``.

    - ``app_id``: the app it happened in; ``time_ms``: when (Unix milliseconds, on the node
      that fired it).
    - ``channel``: every kind but ``connection_open`` and ``connection_close``.
    - ``user_id``: ``member_added`` and ``member_removed``; ``client_event`` from a presence
      member; ``connection_open``/``connection_close`` of a socket that carries an identity
      (a token or a session cookie at the handshake). Else None.
    - ``event``, ``data``: ``client_event`` only (``data`` as the client sent it, as text).
    - ``socket_id``: ``client_event`` (the sender) and the connection kinds.
    - ``transport``: ``"socketio"`` or ``"pusher"``, connection kinds only.
    """

    kind: HookKind
    app_id: str
    time_ms: int
    channel: str | None = None
    user_id: str | None = None
    event: str | None = None
    data: str | None = None
    socket_id: str | None = None
    transport: str | None = None


class Hook(Protocol):
    """An in-process hook: ``async def hook(event: HookEvent) -> None`` (any callable that
    returns an awaitable). What it raises is counted and logged, never propagated."""

    def __call__(self, event: HookEvent, /) -> Awaitable[None]: ...


def _now_ms() -> int:
    return int(time.time() * 1000)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class Hooks:
    """The hooks of one roomkey (one ``Roomkey`` handle): registered any time, run while the
    application runs (``start`` / ``close``, one cleanup context in ``app.py``)."""

    def __init__(self, settings: HookSettings) -> None:
        self.settings = settings
        self._hooks: dict[str, list[Hook]] = {}
        self._queue: asyncio.Queue[HookEvent] = asyncio.Queue(settings.queue_size)
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._worker: asyncio.Task[None] | None = None
        self._calls = OwnedTasks()
        self._metrics: Metrics | None = None
        self._failing: dict[tuple[str, int], int] = {}
        self._drops = DropBursts(log, "hook queue")
        self.failed = 0  # hook calls that raised or timed out

    # -- registration ------------------------------------------------------------------

    def on(self, kind: HookKind, hook: Hook) -> None:
        """Call ``hook`` for every event of ``kind``; ``ValueError`` for an unknown kind,
        ``TypeError`` when ``hook`` is not callable. Registering the same hook twice calls
        it twice."""
        if kind not in HOOK_KINDS:
            raise ValueError(f"unknown hook kind {kind!r}: one of {', '.join(HOOK_KINDS)}")
        if not callable(hook):
            raise TypeError("a hook must be an async callable taking a HookEvent")
        self._hooks.setdefault(kind, []).append(hook)

    def wants(self, kind: str) -> bool:
        return kind in self._hooks

    # -- lifetime ----------------------------------------------------------------------

    async def start(self, metrics: Metrics | None = None) -> None:
        # Made again in the running loop: an application may be started more than once.
        self._queue = asyncio.Queue(self.settings.queue_size)
        self._slots = asyncio.Semaphore(self.settings.concurrency)
        self._metrics = metrics
        if metrics is not None:
            metrics.hook_queue_depth.set_function(lambda: self.queued)
        self._worker = asyncio.create_task(self._run(), name="roomkey-hooks")

    async def close(self) -> None:
        worker, self._worker = self._worker, None
        await cancel_and_wait([worker] if worker is not None else [])
        await self._calls.close()
        while not self._queue.empty():
            self._queue.get_nowait()

    @property
    def queued(self) -> int:
        """Events waiting for their hooks (``roomkey_hook_queue_depth``)."""
        return self._queue.qsize()

    # -- the hot path: never blocks ----------------------------------------------------

    def emit(self, app: AppSettings, event: dict[str, Any], time_ms: int | None = None) -> None:
        """A Pusher webhook event object (``{"name", "channel", "user_id"?, "event"?,
        "data"?, "socket_id"?}``) for the hooks of its kind, if any, now: a ``client_event``
        from the hub, or a channel or member event ``hook_relay.HookRelay`` claimed.
        ``time_ms``: when it happened (default: now)."""
        kind = event.get("name")
        if not isinstance(kind, str) or kind not in self._hooks:
            return
        self._put(
            HookEvent(
                kind,  # type: ignore[arg-type]  # a key of _hooks: one of HOOK_KINDS
                app.id,
                _now_ms() if time_ms is None else time_ms,
                channel=_text(event.get("channel")),
                user_id=_text(event.get("user_id")),
                event=_text(event.get("event")),
                data=_text(event.get("data")),
                socket_id=_text(event.get("socket_id")),
            )
        )

    def connection(
        self, kind: Literal["connection_open", "connection_close"], conn: Connection
    ) -> None:
        """A socket of this node opened or closed."""
        if kind not in self._hooks:
            return
        identity = conn.identity
        self._put(
            HookEvent(
                kind,
                conn.app.id,
                _now_ms(),
                user_id=identity.user_id if identity is not None else None,
                socket_id=conn.socket_id,
                transport=conn.transport,
            )
        )

    def _put(self, event: HookEvent) -> None:
        if self._worker is None:
            return  # not running (before start, after close)
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.drop(event.app_id)
            return
        self._drops.accepted()

    @property
    def dropped(self) -> int:
        """Events refused on their way to the hooks (a full queue)."""
        return self._drops.total

    def drop(self, app_id: str, count: int = 1) -> None:
        """Count ``count`` events of the app dropped on their way to the hooks (a full
        queue: this one, or ``HookRelay``'s), logged once per burst."""
        if self._metrics is not None:
            self._metrics.hook_drops.inc(count)
        self._drops.dropped(count, app=app_id)

    # -- the worker --------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            event = await self._queue.get()
            for hook in tuple(self._hooks.get(event.kind, ())):
                await self._slots.acquire()
                self._calls.spawn(self._call(hook, event), name="roomkey-hook")

    async def _call(self, hook: Hook, event: HookEvent) -> None:
        key = (event.kind, id(hook))
        try:
            try:
                async with asyncio.timeout(self.settings.timeout_seconds) as deadline:
                    await hook(event)
            except TimeoutError:
                # The deadline's own, or one the hook raised itself (an error like any other).
                timed_out = deadline.expired()
                cause = "timeout" if timed_out else "error"
                self._failed(hook, event, key, cause, None if timed_out else sys.exc_info())
                return
            except Exception:
                self._failed(hook, event, key, "error", sys.exc_info())
                return
            failures = self._failing.pop(key, 0)
            if failures:
                log_event(
                    log,
                    logging.INFO,
                    "hook recovered",
                    kind=event.kind,
                    hook=_name(hook),
                    failures=failures,
                )
        finally:
            self._slots.release()

    def _failed(
        self, hook: Hook, event: HookEvent, key: tuple[str, int], cause: str, exc_info: Any
    ) -> None:
        self.failed += 1
        if self._metrics is not None:
            self._metrics.hook_failures.labels(event.kind, cause).inc()
        failures = self._failing.get(key, 0)
        self._failing[key] = failures + 1
        if failures:
            return
        # Type and source position only: an exception's message may quote the event's data.
        fields = exception_fields(exc_info, own=True) if exc_info is not None else {}
        log_event(
            log,
            logging.WARNING,
            "hook failed",
            kind=event.kind,
            hook=_name(hook),
            cause=cause,
            app=event.app_id,
            **fields,
        )


def _name(hook: Hook) -> str:
    return str(getattr(hook, "__qualname__", None) or type(hook).__qualname__)
