"""What a test client receives, the same on both protocols: ``Event``, ``Subscription``,
``Refused``, and the bounded ``Inbox`` that ``next_event`` reads."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "MEMBER_ADDED",
    "MEMBER_REMOVED",
    "NO_EVENT_WITHIN_S",
    "Event",
    "Inbox",
    "Refused",
    "Subscription",
]

# How long ``next_event`` waits by default: generous on purpose (a busy CI machine); it
# bounds a failing test, it is not what the test asserts.
DEFAULT_TIMEOUT_S = 5.0
# How long ``assert_no_event`` watches by default.
NO_EVENT_WITHIN_S = 0.3
# The names member events carry in ``Event.event`` on both protocols (Socket.IO's
# ``member_added`` event; Pusher's ``pusher_internal:member_added`` frame).
MEMBER_ADDED = "member_added"
MEMBER_REMOVED = "member_removed"
# Events a client keeps unread at most; past that the client is marked overflowed and
# ``next_event`` fails (a test that never reads what it receives).
INBOX_LIMIT = 10_000


@dataclass(frozen=True)
class Event:
    """One event a client received on a channel.

    ``data``: the data decoded from JSON when it is a JSON text (as pusher-js does), the
    same on both protocols: ``Roomkey.publish`` and the REST API send text, so a published
    ``{"a": 1}`` arrives as ``{"a": 1}`` and a published ``"hi"`` as ``"hi"``. ``raw``: the
    data as the wire carried it (Socket.IO: as published; Pusher: always text). ``user_id``: the
    sender of a client event on a presence channel. Member events are named
    ``MEMBER_ADDED`` / ``MEMBER_REMOVED`` with data ``{"user_id", "user_info"?}``.
    """

    channel: str
    event: str
    data: Any
    user_id: str | None = None
    raw: Any = field(default=None, compare=False, repr=False)


def decoded(data: Any) -> Any:
    """``data`` decoded from JSON when it is a JSON text, else as is."""
    if isinstance(data, str):
        try:
            return json.loads(data)
        except ValueError:
            return data
    return data


@dataclass(frozen=True)
class Subscription:
    """A successful subscription: the channel, and for a presence channel the members
    (``{"ids", "hash", "count"}``, the subscriber included)."""

    channel: str
    presence: dict[str, Any] | None = None


class Refused(Exception):
    """roomkey said no: at ``stage`` "connect", "authorize" (the HTTP endpoint: ``status``),
    "subscribe" or "trigger"; ``code`` is the Pusher error code when one was sent, ``body``
    the whole answer."""

    def __init__(
        self,
        stage: str,
        message: str,
        *,
        code: int | None = None,
        status: int | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(f"{stage} refused: {message}" + (f" (code {code})" if code else ""))
        self.stage = stage
        self.message = message
        self.code = code
        self.status = status
        self.body = body


@dataclass
class Inbox:
    """Events in arrival order, taken out by whoever asks for a matching one. Bounded
    (``INBOX_LIMIT``); ``close`` wakes every waiter (the connection is gone)."""

    limit: int = INBOX_LIMIT
    closed_because: str | None = None
    overflowed: bool = False
    _events: list[Event] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, event: Event) -> None:
        if len(self._events) >= self.limit:
            self.overflowed = True
            return
        self._events.append(event)
        self._wake()

    def close(self, why: str) -> None:
        if self.closed_because is None:
            self.closed_because = why
        self._wake()

    def pending(self, match: Callable[[Event], bool]) -> list[Event]:
        """The unread events that ``match``, left unread."""
        return [e for e in self._events if match(e)]

    async def take(self, match: Callable[[Event], bool], timeout: float) -> Event | None:
        """The first unread event that ``match`` (removed), waiting up to ``timeout``
        seconds for one; None at the deadline, or once the inbox is closed and holds none."""
        if self.overflowed:
            raise AssertionError(f"more than {self.limit} events were left unread")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i, event in enumerate(self._events):
                if match(event):
                    del self._events[i]
                    return event
            remaining = deadline - loop.time()
            if remaining <= 0 or self.closed_because is not None:
                return None
            waiter = self._arrived
            try:
                await asyncio.wait_for(waiter.wait(), remaining)
            except TimeoutError:
                pass

    def _wake(self) -> None:
        self._arrived.set()
        self._arrived = asyncio.Event()


def matches(channel: str, event: str | None) -> Callable[[Event], bool]:
    """A test of an event's channel, and of its name when ``event`` is given."""
    return lambda e: e.channel == channel and (event is None or e.event == event)
