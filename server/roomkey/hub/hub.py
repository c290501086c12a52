"""The hub: connections, subscriptions, presence, user sign-in, client events and publishing.

Transport-agnostic: both transports call it with typed requests and a ``Connection`` whose
``deliver(message)`` queues a message for one socket. The hub calls the broker (cross-node
fan-out, and cluster-wide commands such as terminating a user's connections) and the presence
store (cluster-wide counts and members, and the departures it sweeps from dead nodes); it tells
the node registry this node's connection counts and asks it for the other nodes'; what a
subscription starting or ending tells others (member events, a ``WebhookSink``, subscription
counts, watchlists) is ``announcements``'s; it never knows which wire protocol a connection
speaks. Who may join a channel, and as which member, is ``authorization``'s to decide; which
client events may be relayed, ``core/client_events.py``'s; connections that carry a user's
identity (handshake or sign-in) are kept in ``users``. Pusher's newer features have a module
each: cache channels (``cached_events``), subscription counts (``subscription_counts``) and
watchlist events (``watchlist``).

Errors are raised as ``RoomkeyError``s; a refused request changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from roomkey.broker.base import Broker
from roomkey.cache.base import ChannelCache
from roomkey.cache.memory import MemoryChannelCache
from roomkey.cluster.base import NodeRegistry
from roomkey.cluster.memory import MemoryNodeRegistry
from roomkey.config import AppSettings
from roomkey.core.apps import AppRegistry
from roomkey.core.channels import (
    is_cache_channel,
    server_to_user_channel,
)
from roomkey.core.client_events import check_client_event
from roomkey.core.errors import BadRequest, LimitExceeded, OverQuota, RoomkeyError
from roomkey.core.members import Member, presence_payload
from roomkey.core.policy import ChannelPolicy
from roomkey.core.protocol import (
    ChannelEvent,
    Outbound,
    RefreshRequest,
    SigninRequest,
    SubscribeRequest,
    TriggerRequest,
    data_as_text,
)
from roomkey.core.watchlist import watchlist_of
from roomkey.hub.announcements import Announcements, BothSinks, NoWebhooks, WebhookSink
from roomkey.hub.authorization import signin_member, subscription_member
from roomkey.hub.cached_events import CachedEvents
from roomkey.hub.connection import Connection
from roomkey.hub.users import UserConnections
from roomkey.hub.watchlist import WATCHLIST_OP
from roomkey.identity.resolver import IdentityResolver
from roomkey.presence.base import Departure, PresenceStore

log = logging.getLogger("roomkey.hub")


class Hub:
    def __init__(
        self,
        apps: AppRegistry,
        broker: Broker,
        presence: PresenceStore,
        policy: ChannelPolicy,
        webhooks: WebhookSink | None = None,
        clock: Callable[[], float] = time.monotonic,
        identities: IdentityResolver | None = None,
        nodes: NodeRegistry | None = None,
        cache: ChannelCache | None = None,
        hooks: WebhookSink | None = None,
    ) -> None:
        """``identities`` confirms handshake identities when a subscribe relies on one and
        takes ``refresh`` tokens (default: no tokens or sessions to read, so only a token
        identity's ``exp`` is checked). ``nodes``: the node registry that shares connection
        counts with the other nodes (default: this node alone). ``cache``: where cache
        channels keep their last event (default: this process's memory). ``hooks``: a
        second sink that hears every event the webhooks do (the embedding application's
        in-process hooks, ``roomkey.hooks``). ``close`` stops the subscription-count
        timer."""
        self.apps = apps
        self.broker = broker
        self.presence = presence
        self.policy = policy
        self.webhooks: WebhookSink = webhooks or NoWebhooks()
        self.hooks: WebhookSink = hooks or NoWebhooks()
        # Channel life events go to both: the webhooks and the in-process hooks.
        self._sinks = BothSinks(self.webhooks, self.hooks)
        self._clock = clock
        self.connections: dict[str, Connection] = {}
        self._per_app: dict[str, int] = {}
        # (app_id, channel) -> socket_id -> connection, this node only
        self._local: dict[tuple[str, str], dict[str, Connection]] = {}
        self.identities = identities or IdentityResolver(None, None)
        self._users = UserConnections()
        self.nodes: NodeRegistry = nodes if nodes is not None else MemoryNodeRegistry()
        self.cached = CachedEvents(
            cache if cache is not None else MemoryChannelCache(), self._sinks
        )
        self.news = Announcements(apps, broker, presence, self._sinks, clock)
        self.counts = self.news.counts
        self._watchlists = self.news.watchlists
        broker.set_handler(self.deliver_local)
        broker.set_control_handler(self._on_control)
        presence.set_departure_handler(self.announce_departures)
        self.nodes.set_connection_counter(self._quota_counts)

    def _emit(self, app: AppSettings, event: dict[str, Any]) -> None:
        """A channel life event, to the webhooks and to the in-process hooks."""
        self._sinks.emit(app, event)

    # -- connections -------------------------------------------------------------------

    def connection_count(self, app_id: str) -> int:
        return self._per_app.get(app_id, 0)

    def _quota_counts(self) -> dict[str, int]:
        """This node's connections per app with a connection quota (shared with the other
        nodes through the node registry)."""
        return {a.id: self.connection_count(a.id) for a in self.apps if a.limits.max_connections}

    async def connect(self, conn: Connection) -> None:
        """Register a new connection; ``OverQuota`` (4004) when the app is full: its
        connections on this node and, as last heard, on the other nodes, reach the quota."""
        limit = conn.app.limits.max_connections
        if limit and (
            self.connection_count(conn.app.id) + self.nodes.other_connections(conn.app.id) >= limit
        ):
            raise OverQuota(f"app is over its connection quota ({limit})")
        self.connections[conn.socket_id] = conn
        self._per_app[conn.app.id] = self.connection_count(conn.app.id) + 1
        if conn.identity is not None:
            # Resolved for this handshake just before: that is its first confirmation.
            conn.identity_checked = self.identities.now()
            self._users.add(conn, conn.identity.user_id)

    async def disconnect(self, conn: Connection) -> None:
        """Forget a connection and leave every channel it joined. Idempotent."""
        if self.connections.get(conn.socket_id) is not conn:
            return
        conn.closed = True
        del self.connections[conn.socket_id]
        self._per_app[conn.app.id] -= 1
        self._users.discard(conn)
        self._watchlists.discard(conn)
        for channel in list(conn.channels):
            await self._leave(conn, channel)

    # -- subscriptions -----------------------------------------------------------------

    async def subscribe(self, conn: Connection, req: SubscribeRequest) -> dict[str, Any]:
        """Join a channel. Returns the acknowledgement: ``{"channel"}``, plus ``"presence"``
        (``ids``, ``hash``, ``count``, the subscriber included) for presence channels."""
        channel = req.channel
        if channel in conn.channels or channel in conn.pending:
            raise BadRequest(f"already subscribed to {channel}")
        limit = conn.app.limits.max_channels_per_connection
        if limit and len(conn.channels) + len(conn.pending) >= limit:
            raise LimitExceeded(f"over the limit of {limit} channels per connection")
        conn.pending[channel] = None
        try:
            member = await subscription_member(conn, req, self.policy, self.identities)
            if conn.closed:
                # Gone while the policy decided: joining now would announce a member (and
                # then remove it) that other members should never have seen.
                raise BadRequest("the connection closed during the subscribe")
            return await self._join(conn, channel, member)
        finally:
            conn.pending.pop(channel, None)

    async def subscribed(self, conn: Connection, channel: str) -> None:
        """What follows a subscription once its acknowledgement is on its way (the transport
        calls this after sending it): a cache channel's last event, or ``cache_miss``."""
        if is_cache_channel(channel) and channel in conn.channels:
            await self.cached.replay(conn, channel)

    def refresh(self, conn: Connection, req: RefreshRequest) -> dict[str, Any]:
        """``refresh``: the connection's handshake token identity is replaced by the one
        ``req.token`` proves, for the same user (``IdentityResolver.refreshed`` says what is
        refused, with 4009). Subscriptions already held are unchanged. Answers ``{}``."""
        conn.identity = self.identities.refreshed(conn.identity, req.token)
        return {}

    async def _join(self, conn: Connection, channel: str, member: Member | None) -> dict[str, Any]:
        app = conn.app
        ack: dict[str, Any] = {"channel": channel}
        first = False
        if member is not None:
            joined = await self.presence.join(
                app.id,
                channel,
                conn.socket_id,
                member.user_id,
                member.user_info,
                app.limits.max_presence_members,
            )
            first = joined.first
            ack["presence"] = presence_payload(joined.members)
        # Pending to joined in one step (no await between): the channel counts once against
        # max_channels_per_connection while the rest of the join awaits the backends.
        conn.pending.pop(channel, None)
        conn.channels[channel] = member
        await self._add_local(conn, channel)
        try:
            count = await self.presence.add_subscriber(app.id, channel, conn.socket_id)
        except RoomkeyError:
            # Not counted (the store is unreachable): undo, so that the refusal changes nothing.
            await self._leave(conn, channel)
            raise
        await self.news.joined(app, channel, count, member if first else None, conn.socket_id)
        if conn.closed:
            # The socket went away while we were joining: undo, as disconnect would have.
            await self._leave(conn, channel)
        return ack

    async def unsubscribe(self, conn: Connection, channel: str) -> dict[str, Any]:
        if channel not in conn.channels:
            raise BadRequest(f"not subscribed to {channel}")
        await self._leave(conn, channel)
        return {"channel": channel}

    async def _leave(self, conn: Connection, channel: str) -> None:
        """Leave one channel; backend failures are logged, never stop the clean-up."""
        if channel not in conn.channels:
            return
        app = conn.app
        member = conn.channels.pop(channel)
        await self._remove_local(conn, channel)
        try:
            count = await self.presence.remove_subscriber(app.id, channel, conn.socket_id)
            await self.news.left(app, channel, count)
        except RoomkeyError as exc:
            log.warning("leave %s: subscriber count not updated: %s", app.id, exc.message)
        if member is None:
            return
        try:
            gone = await self.presence.leave(app.id, channel, conn.socket_id)
        except RoomkeyError as exc:
            log.warning("leave %s: channel state not updated: %s", app.id, exc.message)
            return
        if gone is not None:
            await self.news.member_removed(app, channel, gone)

    async def _add_local(self, conn: Connection, channel: str) -> None:
        key = (conn.app.id, channel)
        subs = self._local.get(key)
        if subs is None:
            subs = self._local[key] = {}
            subs[conn.socket_id] = conn
            await self.broker.listen(conn.app.id, channel)
        else:
            subs[conn.socket_id] = conn

    async def _remove_local(self, conn: Connection, channel: str) -> None:
        key = (conn.app.id, channel)
        subs = self._local.get(key)
        if subs is None or subs.pop(conn.socket_id, None) is None:
            return
        if not subs:
            del self._local[key]
            try:
                await self.broker.unlisten(conn.app.id, channel)
            except RoomkeyError as exc:
                log.warning("unlisten %s: %s", conn.app.id, exc.message)

    # -- user sign-in -----------------------------------------------------------------

    async def signin(self, conn: Connection, req: SigninRequest) -> dict[str, Any]:
        """Bind the connection to a user (Pusher's user sign-in): the user ``signin_member``
        admits (signature over ``socket_id::user::user_data``, ``user_data.id``), who joins
        their ``#server-to-user-{id}`` channel. Answers ``{"user_data"}`` (the exact string
        sent); signing in again as the same user changes nothing, as another is refused."""
        member = signin_member(conn, req)
        if conn.user is not None:
            if conn.user.user_id != member.user_id:
                raise BadRequest("this connection is already signed in as another user")
            return {"user_data": req.user_data}
        watchlist = watchlist_of(req.user_data, conn.app)
        conn.user = member
        self._users.add(conn, member.user_id)
        if watchlist:
            self._watchlists.add(conn, watchlist)
        channel = server_to_user_channel(member.user_id)
        if channel not in conn.channels:
            await self._join(conn, channel, None)
        return {"user_data": req.user_data}

    async def signed_in(self, conn: Connection) -> None:
        """What follows a sign-in once its acknowledgement is on its way (the transport calls
        this after sending it): the users on the connection's watchlist already online."""
        if conn.watchlist:
            await self._watchlists.signed_in(conn)

    async def terminate_user(self, app: AppSettings, user_id: str) -> None:
        """Close every connection that carries ``user_id``'s identity (from the handshake,
        a JWT or a session cookie, or from a sign-in), on every node, with 4009."""
        await self.broker.publish_control(app.id, {"op": "terminate_user", "user_id": user_id})

    def user_connections(self, app_id: str, user_id: str) -> list[Connection]:
        """This node's connections that carry ``user_id``'s identity (a snapshot)."""
        return self._users.connections(app_id, user_id)

    def _on_control(self, app_id: str, command: dict[str, Any]) -> None:
        op = command.get("op")
        if op == WATCHLIST_OP:
            self._watchlists.on_control(app_id, command)
        elif op == "terminate_user":
            user_id = command.get("user_id")
            if isinstance(user_id, str):
                for conn in self._users.connections(app_id, user_id):
                    conn.close(4009, "connection terminated by the app")
        else:
            log.warning("unknown control command from the broker dropped")

    # -- events ------------------------------------------------------------------------

    async def client_event(self, conn: Connection, req: TriggerRequest) -> None:
        """A client event: delivered to the channel's other subscribers, with the sender's
        verified ``user_id`` on presence channels, once ``check_client_event``'s rules hold
        (``ClientEventRejected``, 4301, otherwise: nothing is published or counted)."""
        app, channel = conn.app, req.channel
        conn.client_events = check_client_event(
            app,
            req,
            subscribed=channel in conn.channels,
            window=conn.client_events,
            now=self._clock(),
        )
        member = conn.channels[channel]
        user_id = member.user_id if member is not None else None
        await self.broker.publish(
            app.id, ChannelEvent(channel, req.event, req.data, user_id), conn.socket_id
        )
        hook: dict[str, Any] = {
            "name": "client_event",
            "channel": channel,
            "event": req.event,
            "data": data_as_text(req.data),
            "socket_id": conn.socket_id,
        }
        if user_id is not None:
            hook["user_id"] = user_id
        self._emit(app, hook)

    async def publish(
        self,
        app: AppSettings,
        channels: Iterable[str],
        event: str,
        data: Any,
        exclude: str | None = None,
    ) -> None:
        """Publish ``event`` with ``data`` (exactly as given) on each channel, skipping the
        socket ``exclude``; a cache channel keeps it as its last event first (so that a
        subscriber joining meanwhile gets it once more rather than never). Raises
        ``ServiceUnavailable`` when the broker or the cache cannot take it."""
        for channel in channels:
            if is_cache_channel(channel):
                await self.cached.remember(app, channel, event, data)
            await self.broker.publish(app.id, ChannelEvent(channel, event, data), exclude)

    def deliver_local(self, app_id: str, message: Outbound, exclude: str | None) -> None:
        """Hand a message to this node's subscribers of its channel (the broker calls this)."""
        subs = self._local.get((app_id, message.channel))
        if not subs:
            return
        for socket_id, conn in subs.items():
            if socket_id != exclude:
                conn.deliver(message)

    def local_subscribers(self, app_id: str, channel: str) -> int:
        return len(self._local.get((app_id, channel), ()))

    def sizes(self) -> dict[str, int]:
        """How many entries the hub's own maps hold (``roomkey.internal_sizes``): each is
        back to 0 once every connection has gone."""
        return {
            "hub.connections": len(self.connections),
            "hub.apps_with_connections": sum(1 for n in self._per_app.values() if n),
            "hub.channels": len(self._local),
            "hub.subscriptions": sum(len(s) for s in self._local.values()),
            "hub.users": len(self._users),
        }

    async def close_all(self, code: int, reason: str) -> None:
        """Tell every connection to go away (shutdown) and forget them."""
        for conn in list(self.connections.values()):
            conn.close(code, reason)
            await self.disconnect(conn)

    async def close(self) -> None:
        """Stop the hub's own timer (subscription counts), after ``close_all``."""
        await self.counts.close()

    def recipients(self, app_id: str, channel: str, exclude: str | None) -> int:
        """How many local connections a message on ``channel`` reaches (``exclude`` aside)."""
        subs = self._local.get((app_id, channel))
        if not subs:
            return 0
        return len(subs) - (1 if exclude is not None and exclude in subs else 0)

    async def announce_departures(self, departures: list[Departure]) -> None:
        """Announce subscriptions that ended on a node that could not say so itself (it
        died, or Redis was unreachable when it left): the presence store's sweeps and
        reconciliations call this, once per departure."""
        await self.news.departures(departures)
