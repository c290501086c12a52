"""One node: a publish is delivered in-process, synchronously, so order is publish order."""

from __future__ import annotations

from typing import Any

from roomkey.broker.base import Broker, BrokerStats, ControlHandler, DeliveryHandler
from roomkey.core.protocol import Outbound


class MemoryBroker(Broker):
    def __init__(self) -> None:
        self._handler: DeliveryHandler | None = None
        self._control: ControlHandler | None = None

    def set_handler(self, handler: DeliveryHandler) -> None:
        self._handler = handler

    def set_control_handler(self, handler: ControlHandler) -> None:
        self._control = handler

    async def publish_control(self, app_id: str, command: dict[str, Any]) -> None:
        if self._control is not None:
            self._control(app_id, command)

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

    def stats(self) -> BrokerStats:
        return BrokerStats(lag_seconds=0.0)

    @property
    def ready(self) -> bool:
        return True
