"""The hub's view of one client socket, whatever its transport.

A transport subclasses ``Connection`` and implements ``deliver`` (non-blocking: queue the
message for the socket's writer) and ``close``. The hub owns the subscription state kept here.
"""

from __future__ import annotations

import abc

from roomkey.config import AppSettings
from roomkey.core.client_events import NO_EVENTS
from roomkey.core.members import Member
from roomkey.core.protocol import Outbound
from roomkey.identity.base import Identity


class Connection(abc.ABC):
    transport: str = "unknown"
    # Slots, not a __dict__ per connection (a few hundred bytes each, times every socket);
    # __weakref__ for the throttle's per-connection windows.
    __slots__ = (
        "__weakref__",
        "address",
        "app",
        "channels",
        "client_events",
        "closed",
        "identity",
        "identity_checked",
        "pending",
        "socket_id",
        "user",
        "watchlist",
    )

    def __init__(
        self, app: AppSettings, socket_id: str, identity: Identity | None, address: str = ""
    ) -> None:
        self.app = app
        self.socket_id = socket_id
        # Who the handshake identified (a JWT or a session cookie), for the socket's whole
        # life: ``refresh`` and session re-reads replace it, always with the same user. The
        # hub checks that it still holds before relying on it (``IdentityResolver.confirm``);
        # ``identity_checked`` is when it was last confirmed (the resolver's clock).
        self.identity = identity
        self.identity_checked = 0.0
        self.address = address
        # channel -> presence member (None for non-presence channels)
        self.channels: dict[str, Member | None] = {}
        # Channels whose subscribe is being decided (a dict: an empty one is a third of an
        # empty set's size, and most connections never have one pending).
        self.pending: dict[str, None] = {}
        self.user: Member | None = None  # set by user sign-in
        # The user ids the sign-in's user_data asked to watch (hub/watchlist.py).
        self.watchlist: tuple[str, ...] = ()
        self.closed = False
        # Client events relayed in the current rate window (``core/client_events.py``).
        self.client_events = NO_EVENTS

    @abc.abstractmethod
    def deliver(self, message: Outbound) -> None:
        """Queue ``message`` for this socket. Must not block and must not raise."""

    @abc.abstractmethod
    def close(self, code: int, reason: str) -> None:
        """Tell the client ``code``/``reason`` and close the socket (asynchronously)."""
