"""Everything with a lifetime that the edges share, built once at start-up by ``app.py``, and
what every edge does the same way: identify a request, log and count a refusal, admit, open
and close a connection (rate limit, logs, metrics, authorization deadline)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from aiohttp import web

from roomkey.config import AppSettings, Settings
from roomkey.core.apps import AppRegistry
from roomkey.core.errors import RoomkeyError
from roomkey.core.policy import ChannelPolicy
from roomkey.hooks import Hooks
from roomkey.hub.authorization_deadlines import AuthorizationDeadlines
from roomkey.hub.connection import Connection
from roomkey.hub.hub import Hub
from roomkey.identity.base import SessionStore
from roomkey.identity.origins import OriginPolicy
from roomkey.identity.proxies import ClientAddresses
from roomkey.identity.resolver import IdentityResolver
from roomkey.logs import log_event
from roomkey.metrics import Metrics
from roomkey.ratelimit.throttle import Throttle

log = logging.getLogger("roomkey")


@dataclass
class Runtime:
    settings: Settings
    apps: AppRegistry
    hub: Hub
    policy: ChannelPolicy
    identity: IdentityResolver
    origins: OriginPolicy
    sessions: SessionStore | None
    node_id: str
    metrics: Metrics = field(default_factory=Metrics)
    throttle: Throttle = field(default_factory=Throttle)
    addresses: ClientAddresses = field(default_factory=ClientAddresses)
    deadlines: AuthorizationDeadlines = field(default_factory=AuthorizationDeadlines)
    # The embedding application's in-process hooks (``connection_open``/``connection_close``
    # are fired here, per node); None: no hooks.
    hooks: Hooks | None = None

    @property
    def session_cookie_name(self) -> str | None:
        """The session cookie's name; None when no session source is in use."""
        return self.identity.session_cookie_name

    def log_connection(self, what: str, conn: Connection) -> None:
        log_event(
            log,
            logging.INFO,
            f"connection {what}",
            app=conn.app.id,
            socket_id=conn.socket_id,
            transport=conn.transport,
            address=conn.address,
            user=conn.identity.user_id if conn.identity else None,
        )

    def log_refusal(
        self,
        what: str,
        exc: RoomkeyError,
        *,
        conn: Connection | None = None,
        address: str = "",
        app_id: str | None = None,
        socket_id: str | None = None,
    ) -> None:
        """One line per refusal (flood-controlled), counted in the metrics. ``app_id`` and
        ``socket_id`` are for edges without a connection (the authorize endpoints)."""
        self.metrics.refused(what, exc)
        log_event(
            log,
            logging.INFO,
            f"refused {what}",
            repeat_key=f"{what}:{exc.code}:{exc.reason}",
            code=exc.code,
            reason=exc.reason,
            detail=exc.message,
            app=conn.app.id if conn else app_id,
            socket_id=conn.socket_id if conn else socket_id,
            address=address or (conn.address if conn else ""),
        )

    def connection_opened(self, conn: Connection) -> None:
        """Every transport calls this once a connection is established: counts it, logs it
        and starts its authorization deadline."""
        self.metrics.count(self.metrics.connections_opened, conn.app.id, conn.transport)
        self.deadlines.start(conn)
        self.log_connection("open", conn)
        if self.hooks is not None:
            self.hooks.connection("connection_open", conn)

    def connection_closed(self, conn: Connection) -> None:
        """Every transport calls this once a connection has left the hub."""
        self.deadlines.cancel(conn)
        self.throttle.forget(conn)
        self.log_connection("close", conn)
        if self.hooks is not None:
            self.hooks.connection("connection_close", conn)

    async def admit_connection(self, app: AppSettings, address: str) -> None:
        """Before a socket is accepted: the per-address connection rate (``RateLimited``)."""
        await self.throttle.connection(app, address)

    def slow_consumer(self, conn: Connection, exc: RoomkeyError) -> None:
        """A transport dropped ``conn`` because its outbound buffer overflowed."""
        self.metrics.slow_consumer_disconnects.labels(conn.transport).inc()
        self.log_refusal("delivery", exc, conn=conn)


# Where the aiohttp application keeps its runtime (set by ``app.py`` at start-up): every edge,
# HTTP or transport, reaches the runtime of the request in hand through it.
RUNTIME = web.AppKey("roomkey.runtime", Runtime)
