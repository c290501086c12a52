"""The rate-limiter contract: count a hit against ``limit`` per ``window`` seconds.

Windows are fixed (they start when the first hit of a key lands and last ``window``
seconds); a refused hit is not counted, so a client that keeps hammering gets in again as soon
as the window ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Decision:
    """``allowed``: the hit was counted. ``retry_after``: seconds until the window ends
    (0 when allowed)."""

    allowed: bool
    retry_after: float = 0.0


@dataclass(slots=True)
class FixedWindow:
    """One key's counter: ``hits`` in the window that ends at ``end`` (clock seconds)."""

    end: float = 0.0
    hits: int = 0

    def hit(self, now: float, limit: int, window: float) -> Decision:
        if self.end <= now:
            self.end, self.hits = now + window, 1
            return Decision(True)
        if self.hits >= limit:
            return Decision(False, self.end - now)
        self.hits += 1
        return Decision(True)


class RateLimiter(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def hit(self, key: str, limit: int, window: float) -> Decision:
        """Count one hit on ``key`` unless ``limit`` hits already landed in its current
        ``window`` (seconds). ``limit`` must be positive. Never raises for a backend failure:
        a limiter that cannot decide allows (and reports it through its ``failures``)."""

    @property
    def failures(self) -> int:
        """How many hits were allowed because the backend could not be asked."""
