"""What a subscription starting or ending tells others: the channel's members (member events
through the broker), the app's webhooks (``channel_occupied``/``channel_vacated``,
``member_added``/``member_removed``), its subscription count (``subscription_counts``) and the
watchers of a signed-in user (``watchlist``: a user's own ``#server-to-user-`` channel
occupied or vacated in the cluster is the user coming online or going offline).

The hub calls ``joined`` and ``left`` with the cluster-wide counts the presence store
answered, and ``departures`` for subscriptions that ended on a node that could not say so
itself. Failures to publish are logged; nothing here raises for a backend.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from roomkey.broker.base import Broker
from roomkey.config import AppSettings
from roomkey.core.apps import AppRegistry
from roomkey.core.channels import (
    ChannelKind,
    channel_kind,
    counts_subscriptions,
    server_to_user_id,
)
from roomkey.core.errors import RoomkeyError
from roomkey.core.members import Member
from roomkey.core.protocol import MemberAdded, MemberRemoved, Outbound
from roomkey.hub.subscription_counts import SubscriptionCounts
from roomkey.hub.watchlist import Watchlists
from roomkey.presence.base import Departure, PresenceStore

log = logging.getLogger("roomkey.hub")


class WebhookSink(Protocol):
    """Receives channel life events as Pusher webhook event objects
    (``{"name": "channel_occupied", "channel": ...}``). Must not block."""

    def emit(self, app: AppSettings, event: dict[str, Any]) -> None: ...


class NoWebhooks(WebhookSink):
    def emit(self, app: AppSettings, event: dict[str, Any]) -> None:
        return None


class BothSinks(WebhookSink):
    """Emits each event to two sinks in turn (the webhooks and the in-process hooks)."""

    def __init__(self, first: WebhookSink, second: WebhookSink) -> None:
        self._first = first
        self._second = second

    def emit(self, app: AppSettings, event: dict[str, Any]) -> None:
        self._first.emit(app, event)
        self._second.emit(app, event)


class Announcements:
    def __init__(
        self,
        apps: AppRegistry,
        broker: Broker,
        presence: PresenceStore,
        webhooks: WebhookSink,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._apps = apps
        self._broker = broker
        self.webhooks = webhooks
        self.counts = SubscriptionCounts(broker, presence, webhooks, clock)
        self.watchlists = Watchlists(broker, presence)

    async def joined(
        self, app: AppSettings, channel: str, count: int, member: Member | None, socket_id: str
    ) -> None:
        """``socket_id`` joined ``channel``, which now has ``count`` subscribers; ``member``:
        the presence member whose first connection on the channel this is, else None."""
        if count == 1:
            self._channel_webhook(app, "channel_occupied", channel)
        await self._count_changed(app, channel, True if count == 1 else None)
        if member is not None:
            await self._publish(
                app, MemberAdded(channel, member.user_id, member.user_info), socket_id
            )
            self.webhooks.emit(
                app, {"name": "member_added", "channel": channel, "user_id": member.user_id}
            )

    async def left(self, app: AppSettings, channel: str, count: int) -> None:
        """A subscriber left ``channel``, which now has ``count`` subscribers (-1: the store
        had not counted it: nothing changed)."""
        if count == 0:
            self._channel_webhook(app, "channel_vacated", channel)
        if count >= 0:
            await self._count_changed(app, channel, False if count == 0 else None)

    async def member_removed(self, app: AppSettings, channel: str, user_id: str) -> None:
        """The user's last connection left ``channel``: tell its members and the webhooks."""
        await self._publish(app, MemberRemoved(channel, user_id), None)
        self.webhooks.emit(app, {"name": "member_removed", "channel": channel, "user_id": user_id})

    async def departures(self, departures: list[Departure]) -> None:
        """Announce subscriptions that ended on a node that could not say so itself, once
        per departure (the presence store's sweeps and reconciliations)."""
        for d in departures:
            try:
                app = self._apps.by_id(d.app_id)
            except RoomkeyError:
                continue
            if d.vacated:
                self._channel_webhook(app, "channel_vacated", d.channel)
            await self._count_changed(app, d.channel, False if d.vacated else None)
            if d.user_id is not None:
                await self.member_removed(app, d.channel, d.user_id)

    async def _publish(self, app: AppSettings, message: Outbound, exclude: str | None) -> None:
        """Member events go through the broker like any publish; a failure is logged."""
        try:
            await self._broker.publish(app.id, message, exclude)
        except RoomkeyError as exc:
            log.warning("member event on app %s not published: %s", app.id, exc.message)

    async def _count_changed(self, app: AppSettings, channel: str, occupied: bool | None) -> None:
        """``channel``'s cluster-wide subscriber count changed; ``occupied`` True when it went
        from 0 to 1, False when to 0, None otherwise. Its subscription count is due (apps
        with ``subscription_count``); a signed-in user's own channel becoming occupied or
        vacated is the user coming online or going offline (watchlists)."""
        if counts_subscriptions(channel):
            if app.subscription_count:
                self.counts.changed(app, channel)
            return
        user_id = server_to_user_id(channel)
        if user_id is not None and occupied is not None:
            await self.watchlists.announce(app, user_id, "online" if occupied else "offline")

    def _channel_webhook(self, app: AppSettings, name: str, channel: str) -> None:
        """``channel_occupied`` or ``channel_vacated``; never for a signed-in user's
        ``#server-to-user-`` channel, which the user joins by signing in, not by subscribing."""
        if channel_kind(channel) is not ChannelKind.SERVER_TO_USER:
            self.webhooks.emit(app, {"name": name, "channel": channel})
