"""A real HTTP server that stands for an app's webhook endpoint, answering with the statuses
a test asks for."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class WebhookEndpoint:
    """A real HTTP server that records webhook bodies and answers ``statuses`` in turn
    (then 200, or ``always`` when set)."""

    port: int = 0
    statuses: list[int] = field(default_factory=list)
    always: int | None = None
    bodies: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    requests: int = 0

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        await self.bodies.put(await request.read())
        if self.always is not None:
            return web.Response(status=self.always)
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)


@asynccontextmanager
async def webhook_target(
    statuses: list[int] | None = None, always: int | None = None
) -> AsyncIterator[WebhookEndpoint]:
    """A ``WebhookEndpoint`` listening on a free loopback port for the ``with`` block."""
    target = WebhookEndpoint(statuses=list(statuses or []), always=always)
    app = web.Application()
    app.router.add_post("/{tail:.*}", target.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    target.port = runner.addresses[0][1]
    try:
        yield target
    finally:
        await runner.cleanup()
