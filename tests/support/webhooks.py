"""A real HTTP server that stands for an app's webhook endpoint: the kit's
``roomkey.testing.WebhookReceiver``, answering with the statuses a test asks for."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from roomkey.testing.webhooks import WebhookReceiver

WebhookEndpoint = WebhookReceiver


@asynccontextmanager
async def webhook_target(
    statuses: list[int] | None = None, always: int | None = None
) -> AsyncIterator[WebhookReceiver]:
    """A ``WebhookReceiver`` listening on a free loopback port for the ``with`` block,
    answering ``statuses`` in turn (then ``always``, else 200)."""
    async with WebhookReceiver(statuses=list(statuses or []), always=always) as target:
        yield target
