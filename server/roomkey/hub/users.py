"""This node's connections by app and user id: every connection that carries a user's
identity, whether from the handshake (a JWT or a session cookie) or from Pusher's user
sign-in.

The hub owns one ``UserConnections``: it adds a connection with a handshake identity when it
connects and again when it signs in, discards it when it disconnects, and asks for a user's
connections when the app terminates that user. A connection is listed under at most two user
ids (its handshake identity's and its sign-in's, usually the same); neither changes while it
is open (``refresh`` and session re-reads keep the user), so ``discard`` finds both keys.
"""

from __future__ import annotations

from roomkey.hub.connection import Connection


class UserConnections:
    def __init__(self) -> None:
        # (app_id, user_id) -> socket_id -> connection; a key is dropped with its last socket.
        self._by_user: dict[tuple[str, str], dict[str, Connection]] = {}

    def add(self, conn: Connection, user_id: str) -> None:
        self._by_user.setdefault((conn.app.id, user_id), {})[conn.socket_id] = conn

    def discard(self, conn: Connection) -> None:
        """Forget ``conn`` under its handshake identity and its sign-in; nothing for an
        anonymous connection."""
        if conn.identity is not None:
            self._forget(conn, conn.identity.user_id)
        if conn.user is not None:
            self._forget(conn, conn.user.user_id)

    def _forget(self, conn: Connection, user_id: str) -> None:
        key = (conn.app.id, user_id)
        sockets = self._by_user.get(key)
        if sockets is not None and sockets.get(conn.socket_id) is conn:
            del sockets[conn.socket_id]
            if not sockets:
                del self._by_user[key]

    def connections(self, app_id: str, user_id: str) -> list[Connection]:
        """A snapshot: closing the connections it lists may change this registry."""
        return list(self._by_user.get((app_id, user_id), {}).values())

    def __len__(self) -> int:
        """How many users have at least one connection here."""
        return len(self._by_user)
