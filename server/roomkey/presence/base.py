"""The presence contract: subscription counts per channel and presence membership, with
first/last-connection semantics, scoped by app; subscriptions that ended without their node
saying so reach the departure handler as ``Departure``s. Which nodes are alive, and their
connection counts, are the node registry's (``cluster/``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class JoinResult:
    """``first``: this was the user's first connection on the channel (send member_added).
    ``members``: user_id -> user_info, the joiner included."""

    first: bool
    members: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Departure:
    """A subscription that ended without its connection's node saying so (that node died,
    or its leave could not reach the store at the time). ``vacated``: the channel has no
    subscribers left. ``user_id``: the user's last connection on the presence channel is
    gone (send member_removed), else None."""

    app_id: str
    channel: str
    vacated: bool
    user_id: str | None


# Announces departures (member_removed, webhooks): the hub's ``announce_departures``.
DepartureHandler = Callable[[list[Departure]], Awaitable[None]]


class PresenceStore(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def add_subscriber(self, app_id: str, channel: str, socket_id: str) -> int:
        """Count ``socket_id`` as a subscriber; returns the channel's count afterwards
        (1 means the channel just became occupied)."""

    async def remove_subscriber(self, app_id: str, channel: str, socket_id: str) -> int:
        """Returns the count afterwards (0: vacated), or -1 if the socket was not counted."""

    async def subscriber_count(self, app_id: str, channel: str) -> int: ...

    async def channels(self, app_id: str, prefix: str = "") -> dict[str, int]:
        """Occupied channels starting with ``prefix`` and their subscriber counts."""

    async def join(
        self,
        app_id: str,
        channel: str,
        socket_id: str,
        user_id: str,
        user_info: Any,
        max_members: int,
    ) -> JoinResult:
        """Add a connection of ``user_id``. Raises ``LimitExceeded`` when the user is new and
        the channel already has ``max_members`` (0: unlimited)."""

    async def leave(self, app_id: str, channel: str, socket_id: str) -> str | None:
        """Remove a connection; returns the user id when it was that user's last connection
        on the channel (send member_removed), else None."""

    async def members(self, app_id: str, channel: str) -> dict[str, Any]:
        """user_id -> user_info."""

    def set_departure_handler(self, handler: DepartureHandler) -> None:
        """Where departures found by sweeps and reconciliation go. A store that only ever
        hears departures from the hub's own ``leave`` calls never calls it."""

    def sizes(self) -> dict[str, int]:
        """How many entries this process keeps (``roomkey.internal_sizes``); none by
        default."""
        return {}
