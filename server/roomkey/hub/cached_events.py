"""Cache channels (docs/protocol.md, "Cache channels"): the last event published on a cache
channel is kept (``cache/``, cluster-wide with Redis) for the app's ``cache_ttl_seconds`` and
handed to each new subscriber right after its subscription succeeded; with nothing cached,
the subscriber is told ``cache_miss`` and the app's webhooks get a ``cache_miss`` event.

The ``cache_miss`` webhook is de-duplicated as Pusher does: one for the first subscription
that missed, none for the others until an event was cached or ``MISS_WEBHOOK_WINDOW_SECONDS``
have passed (cluster-wide with Redis), so an app is not asked many times at once to fill one
channel; each subscriber still gets its own ``cache_miss``.

Server publishes (the REST API and the embedding API, through ``Hub.publish``) fill the cache;
client events on cache channels are relayed as on any channel of their kind but not cached,
as Pusher does.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from roomkey.cache.base import CachedEvent, ChannelCache
from roomkey.config import AppSettings
from roomkey.core.errors import RoomkeyError
from roomkey.core.protocol import CacheMiss, ChannelEvent
from roomkey.hub.connection import Connection
from roomkey.logs import log_event

if TYPE_CHECKING:
    from roomkey.hub.announcements import WebhookSink

log = logging.getLogger("roomkey.hub")

# After a reported cache miss, further misses of the channel send no webhook for this long
# (unless an event is cached meanwhile): time for the app to publish one.
MISS_WEBHOOK_WINDOW_SECONDS = 10.0


class CachedEvents:
    def __init__(self, cache: ChannelCache, webhooks: WebhookSink) -> None:
        self.cache = cache
        self._webhooks = webhooks

    async def remember(self, app: AppSettings, channel: str, event: str, data: Any) -> None:
        """Keep ``event`` as the last of cache channel ``channel``. Raises
        ``ServiceUnavailable`` when the store cannot take it (the publish is refused)."""
        await self.cache.put(app.id, channel, CachedEvent(event, data), app.cache_ttl_seconds)

    async def replay(self, conn: Connection, channel: str) -> None:
        """Send ``conn`` the last event of cache channel ``channel``, or ``cache_miss`` (and
        the ``cache_miss`` webhook). Nothing when ``conn`` left the channel meanwhile; a store
        that cannot answer is logged and the subscriber hears nothing."""
        app = conn.app
        try:
            cached = await self.cache.get(app.id, channel)
        except RoomkeyError as exc:
            log_event(
                log,
                logging.WARNING,
                "cache channel not read",
                repeat_key=f"cache-get:{app.id}",
                app=app.id,
                error=exc.message,
            )
            return
        if channel not in conn.channels or conn.closed:
            return
        if cached is None:
            conn.deliver(CacheMiss(channel))
            try:
                first = await self.cache.claim_miss(app.id, channel, MISS_WEBHOOK_WINDOW_SECONDS)
            except RoomkeyError as exc:
                log_event(
                    log,
                    logging.WARNING,
                    "cache miss not de-duplicated",
                    repeat_key=f"cache-miss:{app.id}",
                    app=app.id,
                    error=exc.message,
                )
                first = True
            if first:
                self._webhooks.emit(app, {"name": "cache_miss", "channel": channel})
        else:
            conn.deliver(ChannelEvent(channel, cached.event, cached.data))
