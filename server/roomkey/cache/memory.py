"""One node: the last events in this process's memory, each until its time to live ends.

Bounded in time, not in count: an expired entry is dropped when it is read, and each ``put``
drops the entries at the front of the insertion order that have expired (with one time to
live per app, the front is the oldest). The number of live entries is at most the number of
cache channels published on within a time to live.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from roomkey.cache.base import CachedEvent, ChannelCache

# How many expired entries one ``put`` drops at most (keeps a put's cost bounded).
SWEEP_PER_PUT = 16


class MemoryChannelCache(ChannelCache):
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # (app_id, channel) -> (expires at, event), oldest put first
        self._entries: OrderedDict[tuple[str, str], tuple[float, CachedEvent]] = OrderedDict()
        # (app_id, channel) -> until when a reported miss silences the next ones, oldest first
        self._misses: OrderedDict[tuple[str, str], float] = OrderedDict()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._entries.clear()
        self._misses.clear()

    async def put(self, app_id: str, channel: str, event: CachedEvent, ttl_seconds: float) -> None:
        now = self._clock()
        key = (app_id, channel)
        self._entries.pop(key, None)
        self._entries[key] = (now + ttl_seconds, event)
        self._misses.pop(key, None)
        for _ in range(SWEEP_PER_PUT):
            oldest = next(iter(self._entries.items()))
            if oldest[1][0] > now:
                break
            del self._entries[oldest[0]]

    async def get(self, app_id: str, channel: str) -> CachedEvent | None:
        key = (app_id, channel)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._entries[key]
            return None
        return entry[1]

    async def claim_miss(self, app_id: str, channel: str, window_seconds: float) -> bool:
        now = self._clock()
        key = (app_id, channel)
        until = self._misses.get(key)
        if until is not None and until > now:
            return False
        self._misses.pop(key, None)
        self._misses[key] = now + window_seconds
        for _ in range(SWEEP_PER_PUT):
            oldest_key, oldest_until = next(iter(self._misses.items()))
            if oldest_until > now:
                break
            del self._misses[oldest_key]
        return True

    def __len__(self) -> int:
        return len(self._entries)
