"""Where roomkey applies ``[rate_limits]``: each check counts one hit or raises
``RateLimited`` (HTTP 429 with ``Retry-After``; 4100 on the sockets) naming the limit.

Limits on users, addresses and apps go to the configured limiter (Redis: cluster-wide).
Limits on one connection live on this node, beside the connection, and go with it.
Edges call: ``authorize_address`` and ``authorize_user`` (authorize endpoints),
``connection`` (before a socket is accepted), ``subscribe`` (before each subscribe request),
``rest`` (each REST API request).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sized
from weakref import WeakKeyDictionary

from roomkey.config import AppSettings, RateLimits
from roomkey.core.errors import RateLimited
from roomkey.hub.connection import Connection
from roomkey.ratelimit.base import Decision, FixedWindow, RateLimiter
from roomkey.ratelimit.memory import MemoryRateLimiter
from roomkey.redis_keys import rate_window


def _refuse(decision: Decision, limit_name: str, what: str, per: str) -> RateLimited:
    return RateLimited(
        f"too many {what}: over rate_limits.{limit_name} ({per})",
        retry_after=decision.retry_after,
        limit=limit_name,
    )


class Throttle:
    def __init__(
        self,
        rates: RateLimits | None = None,
        limiter: RateLimiter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rates = rates or RateLimits()
        self.limiter: RateLimiter = limiter or MemoryRateLimiter()
        self._clock = clock
        # Freed with the connection object: no sweeping, no cap to run into.
        self._subscribes: WeakKeyDictionary[Connection, FixedWindow] = WeakKeyDictionary()

    async def authorize_address(self, app: AppSettings, address: str) -> None:
        """One authorize call from ``address`` (checked before any identity work)."""
        limit = self.rates.authorize_per_minute_per_address
        if limit and address:
            d = await self.limiter.hit(rate_window("auth-addr", app.id, address), limit, 60.0)
            if not d.allowed:
                raise _refuse(d, "authorize_per_minute_per_address", "authorize calls", address)

    async def authorize_user(self, app: AppSettings, user_id: str) -> None:
        """One authorize call by an identified ``user_id``."""
        limit = self.rates.authorize_per_minute_per_user
        if limit:
            d = await self.limiter.hit(rate_window("auth-user", app.id, user_id), limit, 60.0)
            if not d.allowed:
                raise _refuse(d, "authorize_per_minute_per_user", "authorize calls", "this user")

    async def connection(self, app: AppSettings, address: str) -> None:
        """One new socket from ``address``."""
        limit = self.rates.connections_per_minute_per_address
        if limit and address:
            d = await self.limiter.hit(rate_window("conn-addr", app.id, address), limit, 60.0)
            if not d.allowed:
                raise _refuse(d, "connections_per_minute_per_address", "connections", address)

    def subscribe(self, conn: Connection) -> None:
        """One subscribe request on ``conn`` (synchronous: a per-connection, local limit)."""
        limit = self.rates.subscribes_per_minute_per_connection
        if limit:
            window = self._subscribes.get(conn)
            if window is None:
                window = self._subscribes[conn] = FixedWindow()
            d = window.hit(self._clock(), limit, 60.0)
            if not d.allowed:
                raise _refuse(
                    d, "subscribes_per_minute_per_connection", "subscribes", "this connection"
                )

    def forget(self, conn: Connection) -> None:
        """``conn`` has closed: its windows go now, not whenever the collector frees it."""
        self._subscribes.pop(conn, None)

    async def rest(self, app: AppSettings) -> None:
        """One REST API request for ``app`` (cluster-wide per second)."""
        limit = self.rates.rest_per_second_per_app
        if limit:
            d = await self.limiter.hit(rate_window("rest", app.id), limit, 1.0)
            if not d.allowed:
                raise _refuse(d, "rest_per_second_per_app", "REST requests", "this app")

    def sizes(self) -> dict[str, int]:
        """``throttle.connection_windows``: per-connection windows (gone with their
        connection); ``throttle.windows``: the limiter's windows held in this process
        (address, user and app windows last their minute, then go at the next sweep)."""
        return {
            "throttle.connection_windows": len(self._subscribes),
            "throttle.windows": len(self.limiter) if isinstance(self.limiter, Sized) else 0,
        }

    async def start(self) -> None:
        await self.limiter.start()

    async def close(self) -> None:
        await self.limiter.close()
        self._subscribes.clear()
