"""This node's signed-in connections, by app and user id (Pusher's user sign-in).

The hub owns one ``SignedInUsers``: it adds a connection when it signs in, discards it when
it disconnects, and asks for a user's connections when the app terminates that user.
"""

from __future__ import annotations

from roomkey.connection import Connection


class SignedInUsers:
    def __init__(self) -> None:
        # (app_id, user_id) -> socket_id -> connection; a key is dropped with its last socket.
        self._by_user: dict[tuple[str, str], dict[str, Connection]] = {}

    def add(self, conn: Connection, user_id: str) -> None:
        self._by_user.setdefault((conn.app.id, user_id), {})[conn.socket_id] = conn

    def discard(self, conn: Connection) -> None:
        """Forget ``conn`` if it signed in; nothing otherwise."""
        if conn.user is None:
            return
        key = (conn.app.id, conn.user.user_id)
        sockets = self._by_user.get(key)
        if sockets is not None:
            sockets.pop(conn.socket_id, None)
            if not sockets:
                del self._by_user[key]

    def connections(self, app_id: str, user_id: str) -> list[Connection]:
        """A snapshot: closing the connections it lists may change this registry."""
        return list(self._by_user.get((app_id, user_id), {}).values())
