"""The webhook store contract: where events wait between ``emit`` and a 2xx from the app.

A store keeps each app's events in three states: held (a leave in its delay window, see
``debounce``), due, and claimed by one sender. ``push`` applies the delay rules atomically
(a re-join cancels the held leave, and both are dropped); ``claim`` hands due events to one
caller, leased for ``lease_seconds``: a claim that is neither renewed, acked nor released
within its lease is due again, and another node claims it (memory: there is no other node).
Ids are strings, unique within an app.

Calls raise ``ServiceUnavailable`` when the backend cannot answer (Redis), ``BackendError``
when it refuses a command.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from roomkey.webhooks.debounce import Claimed, Pushed

__all__ = ["Claimed", "Pushed", "WebhookStore"]


class WebhookStore(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def push(
        self, app_id: str, events: Sequence[dict[str, Any]], delay_seconds: float, cap: int
    ) -> list[Pushed]:
        """Store ``events`` in order (one ``Pushed`` each): a ``member_removed`` or
        ``channel_vacated`` is held ``delay_seconds`` (0: not held); an event that matches a
        held leave cancels it. At most ``cap`` events per app are kept."""

    async def claim(self, app_id: str, limit: int, lease_seconds: float) -> list[Claimed]:
        """Up to ``limit`` due events of the app, claimed by this node for ``lease_seconds``
        (including events whose previous claim expired: their node died or stalled)."""

    async def renew(self, app_id: str, ids: Sequence[str], lease_seconds: float) -> None:
        """Extend this node's claims on ``ids`` by ``lease_seconds`` from now."""

    async def ack(self, app_id: str, ids: Sequence[str]) -> None:
        """Forget claimed events: delivered, or given up."""

    async def release(self, app_id: str, ids: Sequence[str]) -> None:
        """Give claimed events back, due now (a shutdown that did not send them)."""

    @property
    def depth(self) -> int:
        """Events kept, all apps (Redis: as of this node's last claim per app)."""
