"""The broker contract: publish a message on an app's channel to every node that listens, and
send cluster-wide commands (``publish_control``) to every node."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from roomkey.core.protocol import Outbound

# (app_id, message, exclude_socket_id) -> None; called in publish order per channel.
DeliveryHandler = Callable[[str, Outbound, "str | None"], None]
# (app_id, command) -> None: cluster-wide commands such as {"op": "terminate_user", ...}.
ControlHandler = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class BrokerStats:
    """What ``/metrics`` reports about a broker: listener reconnects, malformed messages
    dropped, and the last measured publish-to-receipt delay (seconds; None if not measured)."""

    reconnects: int = 0
    dropped_malformed: int = 0
    lag_seconds: float | None = None


class Broker(Protocol):
    def set_handler(self, handler: DeliveryHandler) -> None:
        """Where messages heard for listened channels go (the hub's local delivery)."""

    def set_control_handler(self, handler: ControlHandler) -> None:
        """Where cluster-wide commands go (every node, this one included)."""

    def set_wire_forms(self, forms: Callable[[Outbound], tuple[str, str]] | None) -> None:
        """Send messages to the other nodes with these wire forms built
        (``performance.relay_frames``, ``broker/envelope.py``); a broker that reaches no
        other node ignores it."""
        return None

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, app_id: str, message: Outbound, exclude: str | None = None) -> None:
        """Deliver to the channel's subscribers on every node (``exclude`` skips one socket
        id). Raises ``ServiceUnavailable`` when the message cannot be handed on: a publish is
        never dropped silently."""

    async def publish_control(self, app_id: str, command: dict[str, Any]) -> None:
        """Send a JSON-safe command to every node (this one included). Raises
        ``ServiceUnavailable`` when it cannot be handed on."""

    async def listen(self, app_id: str, channel: str) -> None:
        """This node now has subscribers on ``channel``."""

    async def unlisten(self, app_id: str, channel: str) -> None:
        """This node has no subscribers on ``channel`` any more."""

    def stats(self) -> BrokerStats:
        """Counters since start, read at scrape time."""

    def sizes(self) -> dict[str, int]:
        """How many entries this process keeps (``roomkey.internal_sizes``); none by
        default."""
        return {}

    @property
    def ready(self) -> bool:
        """Whether publishes can reach other nodes right now."""
