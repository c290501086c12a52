"""The cache-channel contract: the last event published on an app's cache channel, kept for
a time to live, read by each new subscriber."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class CachedEvent:
    """An event as it was published: its name and its data exactly as given (a string stays
    a string)."""

    event: str
    data: Any


class ChannelCache(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def put(self, app_id: str, channel: str, event: CachedEvent, ttl_seconds: float) -> None:
        """Keep ``event`` as ``channel``'s last event for ``ttl_seconds``, replacing any
        other. Raises ``ServiceUnavailable`` when the store cannot take it."""

    async def get(self, app_id: str, channel: str) -> CachedEvent | None:
        """``channel``'s last event, or None when nothing is cached (or it expired). Raises
        ``ServiceUnavailable`` when the store cannot answer."""

    async def claim_miss(self, app_id: str, channel: str, window_seconds: float) -> bool:
        """Whether this cache miss of ``channel`` is the first one (cluster-wide) since the
        last ``put`` and within ``window_seconds`` of an earlier claimed one: True once, then
        False until the window has passed or an event was put. Raises
        ``ServiceUnavailable`` when the store cannot answer."""
