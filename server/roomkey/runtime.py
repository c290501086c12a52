"""Everything with a lifetime that the edges share, built once at start-up by ``app.py``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from roomkey.apps import AppRegistry
from roomkey.config import Settings
from roomkey.connection import Connection
from roomkey.errors import RoomkeyError
from roomkey.hub import Hub
from roomkey.identity.base import Identity, SessionStore
from roomkey.identity.resolver import IdentityResolver
from roomkey.logs import log_event
from roomkey.origins import OriginPolicy
from roomkey.policy import ChannelPolicy

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

    async def identify(
        self, *, bearer: str | None, cookie: str | None, origin: str | None, host: str | None
    ) -> Identity | None:
        """The request's identity (see ``IdentityResolver``); cookies only from allowed
        origins."""
        return await self.identity.resolve(
            bearer, cookie, self.origins.allows_credentials(origin, host)
        )

    def session_cookie(self, cookies: Mapping[str, str]) -> str | None:
        s = self.settings.session
        return cookies.get(s.cookie_name) if s.enabled else None

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
        self, what: str, exc: RoomkeyError, *, conn: Connection | None = None, address: str = ""
    ) -> None:
        log_event(
            log,
            logging.INFO,
            f"refused {what}",
            code=exc.code,
            reason=exc.reason,
            detail=exc.message,
            app=conn.app.id if conn else None,
            socket_id=conn.socket_id if conn else None,
            address=address or (conn.address if conn else ""),
        )
