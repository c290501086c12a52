"""Coalescing: many changes of one key within an interval become one report at its end.

Pure (the caller owns the clock and the timer). ``mark(key, now, interval)`` notes that
``key`` changed; the first mark of a quiet key makes it due at ``now + interval``, and marks
before then change nothing (a burst is one report). ``take_due(now)`` returns the keys due
and forgets them: the next mark starts a new interval. Used for subscription counts
(``hub/subscription_counts.py``): one message per channel per interval.
"""

from __future__ import annotations

from typing import Generic, TypeVar

K = TypeVar("K")


class Coalescer(Generic[K]):
    def __init__(self) -> None:
        # key -> when it is due; insertion order is mark order.
        self._due: dict[K, float] = {}

    def mark(self, key: K, now: float, interval: float) -> bool:
        """Note a change of ``key``; True when this started a new interval (the caller's
        timer may need to wake earlier)."""
        if key in self._due:
            return False
        self._due[key] = now + interval
        return True

    def next_due(self) -> float | None:
        """When the earliest pending key is due, or None when none is pending."""
        return min(self._due.values(), default=None)

    def take_due(self, now: float) -> list[K]:
        """The keys due at ``now`` (in mark order), no longer pending."""
        due = [key for key, at in self._due.items() if at <= now]
        for key in due:
            del self._due[key]
        return due

    def discard(self, key: K) -> None:
        self._due.pop(key, None)

    def __len__(self) -> int:
        return len(self._due)
