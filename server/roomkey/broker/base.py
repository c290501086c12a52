"""The broker contract: publish a message on an app's channel to every node that listens."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from roomkey.protocol import Outbound

# (app_id, message, exclude_socket_id) -> None; called in publish order per channel.
DeliveryHandler = Callable[[str, Outbound, "str | None"], None]


class Broker(Protocol):
    def set_handler(self, handler: DeliveryHandler) -> None:
        """Where messages heard for listened channels go (the hub's local delivery)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, app_id: str, message: Outbound, exclude: str | None = None) -> None:
        """Deliver to the channel's subscribers on every node (``exclude`` skips one socket
        id). Raises ``ServiceUnavailable`` when the message cannot be handed on: a publish is
        never dropped silently."""

    async def listen(self, app_id: str, channel: str) -> None:
        """This node now has subscribers on ``channel``."""

    async def unlisten(self, app_id: str, channel: str) -> None:
        """This node has no subscribers on ``channel`` any more."""

    @property
    def ready(self) -> bool:
        """Whether publishes can reach other nodes right now."""
