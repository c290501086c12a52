"""Fixed-window counters in a dictionary: one node's limits. A real implementation.

Memory is bounded: expired windows are swept whenever the table has doubled since the last
sweep, and past ``max_keys`` live windows new keys are refused rather than stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from roomkey.ratelimit.base import Decision, FixedWindow, RateLimiter


class MemoryRateLimiter(RateLimiter):
    def __init__(
        self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._windows: dict[str, FixedWindow] = {}
        self._max_keys = max_keys
        self._clock = clock
        self._sweep_at = min(max_keys, 1024)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._windows.clear()

    @property
    def failures(self) -> int:
        return 0

    def __len__(self) -> int:
        return len(self._windows)

    async def hit(self, key: str, limit: int, window: float) -> Decision:
        now = self._clock()
        entry = self._windows.get(key)
        if entry is None:
            if len(self._windows) >= self._sweep_at:
                self._sweep(now)
                if len(self._windows) >= self._max_keys:
                    # Full of live windows: someone is minting keys; refuse, do not grow.
                    return Decision(False, window)
            entry = self._windows[key] = FixedWindow()
        return entry.hit(now, limit, window)

    def _sweep(self, now: float) -> None:
        self._windows = {k: v for k, v in self._windows.items() if v.end > now}
        self._sweep_at = min(self._max_keys, max(1024, 2 * len(self._windows)))
