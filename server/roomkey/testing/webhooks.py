"""``WebhookReceiver``: a real HTTP server on loopback standing for the application's
webhook endpoint. It records each batch roomkey POSTs, checks its signature against the
apps' secrets, and answers the statuses a test asks for."""

from __future__ import annotations

import asyncio
import hmac
import json
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from roomkey.config import Settings
from roomkey.core.signing import webhook_signature
from roomkey.testing.events import DEFAULT_TIMEOUT_S

__all__ = ["WebhookCall", "WebhookReceiver"]

# Batches a receiver keeps; a test that never reads them fails past this.
MAX_CALLS = 10_000


@dataclass(frozen=True)
class WebhookCall:
    """One POST roomkey made: the ``X-Pusher-Key`` and ``X-Pusher-Signature`` headers, the
    exact body, and whether the signature held for that key's secret (None: key unknown)."""

    key: str
    signature: str
    body: bytes
    signed: bool | None

    @property
    def payload(self) -> dict[str, Any]:
        """The body decoded: ``{"time_ms", "events": [...]}``."""
        value = json.loads(self.body)
        assert isinstance(value, dict)
        return value

    @property
    def events(self) -> list[dict[str, Any]]:
        """The batch's events (``name``, ``channel``, ``user_id``, ...)."""
        return list(self.payload.get("events", []))


@dataclass
class WebhookReceiver:
    """Start with ``await WebhookReceiver().start()`` (or ``async with``), put ``url()`` in
    the settings (``test_settings(webhook_url=receiver.url())``), then
    ``await receiver.next_event("channel_occupied")``. ``trust(settings)`` gives it the apps'
    secrets: calls are then checked and a bad signature is answered 401 (as a careful
    application would) and kept apart in ``forged``.

    ``statuses``: answered in turn (then ``always``, else 200), to make roomkey retry."""

    statuses: list[int] = field(default_factory=list)
    always: int | None = None
    port: int = 0
    calls: list[WebhookCall] = field(default_factory=list)
    forged: list[WebhookCall] = field(default_factory=list)
    # The body of every attempt (retries included), in arrival order.
    bodies: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(MAX_CALLS))
    requests: int = 0
    _secrets: dict[str, str] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _read: int = 0

    def url(self, path: str = "/hook") -> str:
        """The receiver's URL (any path is accepted)."""
        return f"http://127.0.0.1:{self.port}{path}"

    def trust(self, settings: Settings) -> None:
        """Check signatures with the secrets of ``settings``' apps from now on."""
        self._secrets.update({app.key: app.secret for app in settings.apps})

    async def start(self) -> Self:
        """Listen on a free loopback port."""
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event of every well-signed (or unchecked) call, in arrival order."""
        return [event for call in self.calls for event in call.events]

    async def next_event(
        self, name: str, channel: str | None = None, *, timeout: float = DEFAULT_TIMEOUT_S
    ) -> dict[str, Any]:
        """The next event named ``name`` (on ``channel`` when given) not returned before,
        waiting up to ``timeout`` seconds; ``AssertionError`` at the deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            events = self.events
            for i in range(self._read, len(events)):
                e = events[i]
                if e.get("name") == name and (channel is None or e.get("channel") == channel):
                    self._read = i + 1
                    return e
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"no webhook {name!r} within {timeout:g} s; received {events[self._read :]}"
                )
            waiter = self._arrived
            try:
                await asyncio.wait_for(waiter.wait(), remaining)
            except TimeoutError:
                pass

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        key = request.headers.get("X-Pusher-Key", "")
        signature = request.headers.get("X-Pusher-Signature", "")
        secret = self._secrets.get(key)
        signed = None
        if secret is not None:
            signed = hmac.compare_digest(webhook_signature(secret, body), signature)
        call = WebhookCall(key, signature, body, signed)
        if signed is False:
            self.forged.append(call)
            return web.Response(status=401)
        if len(self.calls) >= MAX_CALLS:
            return web.Response(status=507)
        self.bodies.put_nowait(body)  # every attempt, retries included
        status = self.statuses.pop(0) if self.statuses else (self.always or 200)
        if 200 <= status < 300:
            self.calls.append(call)
            self._arrived.set()
            self._arrived = asyncio.Event()
        return web.Response(status=status)
