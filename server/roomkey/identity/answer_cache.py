"""A small bounded cache of the app's identity answers, kept ``ttl`` seconds each and keyed
by a hash of the credentials that were forwarded (never the credentials themselves). Least
recently used entries go first once ``size`` is reached; ``size`` 0 or ``ttl`` 0 keeps
nothing."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

from roomkey.identity.base import Identity


def credentials_key(headers: Mapping[str, str]) -> str:
    """A SHA-256 over the forwarded headers, names and values, in a fixed order."""
    digest = hashlib.sha256()
    for name in sorted(headers):
        digest.update(name.lower().encode("utf-8", "surrogateescape") + b"\0")
        digest.update(headers[name].encode("utf-8", "surrogateescape") + b"\0")
    return digest.hexdigest()


class AnswerCache:
    def __init__(self, ttl: float, size: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._size = size if ttl > 0 else 0
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Identity | None]] = OrderedDict()

    def get(self, key: str) -> tuple[bool, Identity | None]:
        """``(True, answer)`` for an answer kept for ``key`` (an identity, or None for "no
        identity"); ``(False, None)`` when there is none or it is too old."""
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        expires, answer = entry
        if self._clock() >= expires:
            del self._entries[key]
            return False, None
        self._entries.move_to_end(key)
        return True, answer

    def put(self, key: str, answer: Identity | None) -> None:
        if self._size <= 0:
            return
        self._entries[key] = (self._clock() + self._ttl, answer)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
