"""Watchlist events (Pusher's ``pusher.user.watchlist``): a signed-in user whose ``user_data``
carries a ``watchlist`` hears ``online`` and ``offline`` for the users on it.

A user is online while at least one signed-in connection of theirs exists anywhere in the
cluster: the hub learns it from the subscriber count of the user's ``#server-to-user-{id}``
channel, which every signed-in connection joins (1 after a join: the user came online; 0
after a leave, or a dead node's departure: offline). The hub then calls ``announce``, which
sends a cluster-wide command through the broker; every node (this one included) hands it to
``on_control``, which tells this node's watchers of that user. ``signed_in`` registers a
connection's watchlist and sends it the users on it already online.

This node keeps its watchers by watched user (``(app_id, user_id) -> socket id ->
connection``); a connection's own watchlist is ``Connection.watchlist``, so ``discard``
finds every entry.
"""

from __future__ import annotations

import logging
from typing import Any

from roomkey.broker.base import Broker
from roomkey.config import AppSettings
from roomkey.core.channels import server_to_user_channel
from roomkey.core.errors import RoomkeyError
from roomkey.core.protocol import WatchlistEvent
from roomkey.hub.connection import Connection
from roomkey.logs import log_event
from roomkey.presence.base import PresenceStore

log = logging.getLogger("roomkey.hub")

WATCHLIST_OP = "watchlist"
EVENTS = ("online", "offline")


class Watchlists:
    def __init__(self, broker: Broker, presence: PresenceStore) -> None:
        self._broker = broker
        self._presence = presence
        self._watchers: dict[tuple[str, str], dict[str, Connection]] = {}

    def add(self, conn: Connection, watchlist: tuple[str, ...]) -> None:
        """Register ``conn`` as a watcher of each user on ``watchlist`` (once per
        connection: a connection signs in once)."""
        conn.watchlist = watchlist
        app_id = conn.app.id
        for user_id in watchlist:
            self._watchers.setdefault((app_id, user_id), {})[conn.socket_id] = conn

    def discard(self, conn: Connection) -> None:
        app_id = conn.app.id
        for user_id in conn.watchlist:
            key = (app_id, user_id)
            watchers = self._watchers.get(key)
            if watchers is not None and watchers.pop(conn.socket_id, None) is not None:
                if not watchers:
                    del self._watchers[key]

    async def signed_in(self, conn: Connection) -> None:
        """Tell ``conn`` which users on its watchlist are online now (one ``online`` event,
        none when nobody is). A count the store cannot give is logged and left out."""
        online: list[str] = []
        for user_id in conn.watchlist:
            try:
                count = await self._presence.subscriber_count(
                    conn.app.id, server_to_user_channel(user_id)
                )
            except RoomkeyError as exc:
                log_event(
                    log,
                    logging.WARNING,
                    "watchlist online state not read",
                    repeat_key=f"watchlist-read:{conn.app.id}",
                    app=conn.app.id,
                    error=exc.message,
                )
                return
            if count > 0:
                online.append(user_id)
        if online and not conn.closed:
            conn.deliver(WatchlistEvent("", "online", online))

    async def announce(self, app: AppSettings, user_id: str, event: str) -> None:
        """``user_id`` came online or went offline (``event``) in the cluster: tell every
        node's watchers. A broker that cannot take it is logged (this node's watchers are
        told all the same)."""
        command = {"op": WATCHLIST_OP, "event": event, "user_id": user_id}
        try:
            await self._broker.publish_control(app.id, command)
        except RoomkeyError as exc:
            log_event(
                log,
                logging.WARNING,
                "watchlist event not published",
                repeat_key=f"watchlist-publish:{app.id}",
                app=app.id,
                change=event,
                error=exc.message,
            )

    def on_control(self, app_id: str, command: dict[str, Any]) -> None:
        """A watchlist command from the broker: this node's watchers of the user hear it."""
        event, user_id = command.get("event"), command.get("user_id")
        if event not in EVENTS or not isinstance(user_id, str):
            log.warning("malformed watchlist command from the broker dropped")
            return
        watchers = self._watchers.get((app_id, user_id))
        if not watchers:
            return
        message = WatchlistEvent("", str(event), [user_id])
        for conn in list(watchers.values()):
            conn.deliver(message)

    def __len__(self) -> int:
        """How many watched users have a watcher on this node."""
        return len(self._watchers)
