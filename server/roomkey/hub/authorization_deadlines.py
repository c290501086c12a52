"""``authorized_connections_timeout``: close connections that neither join a private,
encrypted or presence channel nor sign in within the app's timeout (as Pusher's "authorized
connections"). Transport-agnostic: every transport calls ``start`` once a connection is
established and ``cancel`` when it ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from roomkey.core.channels import channel_kind
from roomkey.hub.connection import Connection

CLOSE_CODE = 4009


def is_authorized(conn: Connection) -> bool:
    """Signed in, or joined at least one channel that needs authorization."""
    return conn.user is not None or any(channel_kind(c).needs_auth for c in conn.channels)


class AuthorizationDeadlines:
    """One timer handle per connection (no task per connection); all cancelled at ``close``."""

    def __init__(self, on_expired: Callable[[Connection], None] | None = None) -> None:
        self._handles: dict[str, asyncio.TimerHandle] = {}
        self._on_expired = on_expired

    def __len__(self) -> int:
        return len(self._handles)

    def start(self, conn: Connection) -> None:
        timeout = conn.app.authorized_connections_timeout
        if timeout <= 0 or conn.socket_id in self._handles:
            return
        loop = asyncio.get_running_loop()
        self._handles[conn.socket_id] = loop.call_later(timeout, self._expire, conn)

    def cancel(self, conn: Connection) -> None:
        handle = self._handles.pop(conn.socket_id, None)
        if handle is not None:
            handle.cancel()

    def close(self) -> None:
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()

    def _expire(self, conn: Connection) -> None:
        self._handles.pop(conn.socket_id, None)
        if conn.closed or is_authorized(conn):
            return
        if self._on_expired is not None:
            self._on_expired(conn)
        timeout = conn.app.authorized_connections_timeout
        conn.close(CLOSE_CODE, f"connection not authorized within {timeout:g} seconds")
