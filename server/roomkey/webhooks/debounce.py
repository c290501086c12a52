"""Which webhook events wait, and what cancels them: Pusher's leave delay, as pure rules and
the in-process queue built on them (no asyncio, no I/O; the clock is the caller's).

Pusher holds ``member_removed`` and ``channel_vacated`` for a few seconds before sending
them, and drops them if the member (the same user id on the same channel) or the channel
comes back within that window; the ``member_added`` or ``channel_occupied`` that brought it
back is then dropped too, so a page reload fires nothing. Every other event type (those of
today and any added later, e.g. ``cache_miss``) is due at once and carried as it is.

``hold_key`` names what a delayed event waits on, ``cancel_key`` what an arriving event
would cancel; both stores (memory here, Redis in ``redis_scripts.py``) apply the same rules.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from enum import Enum
from typing import Any

HELD = {"member_removed": "member_added", "channel_vacated": "channel_occupied"}
CANCELLING = {added: removed for removed, added in HELD.items()}
# Each held or cancelling kind and its partner: a consumer that wants either one must keep
# both, since a leave absorbed by a re-join is what keeps that re-join from being sent.
PAIRED = {**HELD, **CANCELLING}


def _key(kind: str, event: dict[str, Any]) -> str:
    channel = event.get("channel")
    if kind.startswith("member"):
        # NUL never occurs in a channel name, so (channel, user) pairs never collide.
        return f"m\0{channel}\0{event.get('user_id')}"
    return f"c\0{channel}"


def hold_key(event: dict[str, Any]) -> str:
    """What a ``member_removed`` / ``channel_vacated`` waits on ('' for any other event)."""
    name = event.get("name")
    return _key(name, event) if isinstance(name, str) and name in HELD else ""


def cancel_key(event: dict[str, Any]) -> str:
    """The hold a ``member_added`` / ``channel_occupied`` cancels ('' for any other event)."""
    name = event.get("name")
    return _key(name, event) if isinstance(name, str) and name in CANCELLING else ""


class Pushed(Enum):
    """What ``push`` did with an event: ``STORED`` (due now or after its delay),
    ``CANCELLED`` (it cancelled a held leave: neither is sent), ``FULL`` (refused: the queue
    holds its cap)."""

    STORED = 1
    CANCELLED = 0
    FULL = -1


@dataclass(frozen=True, slots=True)
class Claimed:
    """An event handed to a sender: ``id`` to ``ack`` or ``release`` it by."""

    id: str
    event: dict[str, Any]


class PendingEvents:
    """One app's webhook events in this process: held leaves, due events, and those claimed
    by a sender. Times are seconds on the caller's clock. At most ``cap`` events at once
    (held, due and claimed together)."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._seq = 0
        self._events: dict[str, dict[str, Any]] = {}  # id -> event, every state
        self._due: list[tuple[float, int, str]] = []  # (due, seq, id): held and due
        self._held: dict[str, str] = {}  # hold key -> id, until claimed
        self._claimed: set[str] = set()

    def __len__(self) -> int:
        return len(self._events)

    def push(self, event: dict[str, Any], delay: float, now: float) -> Pushed:
        """Store ``event``; a leave is due ``delay`` seconds after ``now`` (``delay`` 0:
        never held). An arrival that matches a held leave cancels it and is dropped."""
        cancels = self._held.pop(cancel_key(event), None) if delay > 0 else None
        if cancels is not None:
            del self._events[cancels]  # its entry in _due is skipped when it comes up
            return Pushed.CANCELLED
        if len(self._events) >= self._cap:
            return Pushed.FULL
        self._seq += 1
        event_id = str(self._seq)
        self._events[event_id] = event
        key = hold_key(event) if delay > 0 else ""
        if key:
            self._held[key] = event_id
        heapq.heappush(self._due, (now + (delay if key else 0.0), self._seq, event_id))
        return Pushed.STORED

    def claim(self, now: float, limit: int) -> list[Claimed]:
        """Up to ``limit`` events due at ``now``, oldest due first; claimed until ``ack`` or
        ``release``. A claimed leave can no longer be cancelled."""
        out: list[Claimed] = []
        while self._due and len(out) < limit and self._due[0][0] <= now:
            _, _, event_id = heapq.heappop(self._due)
            event = self._events.get(event_id)
            if event is None or event_id in self._claimed:
                continue
            key = hold_key(event)
            if key and self._held.get(key) == event_id:
                del self._held[key]
            self._claimed.add(event_id)
            out.append(Claimed(event_id, event))
        return out

    def ack(self, ids: list[str]) -> None:
        """Forget claimed events (sent, or given up)."""
        for event_id in ids:
            self._claimed.discard(event_id)
            self._events.pop(event_id, None)

    def release(self, ids: list[str], now: float) -> None:
        """Claimed events go back, due at ``now``."""
        for event_id in ids:
            if event_id in self._claimed and event_id in self._events:
                self._claimed.discard(event_id)
                self._seq += 1
                heapq.heappush(self._due, (now, self._seq, event_id))

    def next_due(self) -> float | None:
        """When the earliest unclaimed event is due (None: nothing waits)."""
        while self._due and (
            self._due[0][2] not in self._events or self._due[0][2] in self._claimed
        ):
            heapq.heappop(self._due)
        return self._due[0][0] if self._due else None
