"""One node: a publish is delivered in-process, synchronously, so order is publish order."""

from __future__ import annotations

from roomkey.broker.base import DeliveryHandler
from roomkey.protocol import Outbound


class MemoryBroker:
    def __init__(self) -> None:
        self._handler: DeliveryHandler | None = None

    def set_handler(self, handler: DeliveryHandler) -> None:
        self._handler = handler

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def publish(self, app_id: str, message: Outbound, exclude: str | None = None) -> None:
        if self._handler is not None:
            self._handler(app_id, message, exclude)

    async def listen(self, app_id: str, channel: str) -> None:
        return None

    async def unlisten(self, app_id: str, channel: str) -> None:
        return None

    @property
    def ready(self) -> bool:
        return True
