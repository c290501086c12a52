"""Fixtures of the embedding tests: a host aiohttp application of the test's own that mounts
roomkey with ``roomkey.setup`` (optionally under a prefix), served on loopback, with the
``Roomkey`` handle ``setup`` returned; settings with one app (so that ``app=`` may be left
out) on memory or on a real redis-server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from aiohttp import web

import roomkey
from tests.support.apps import make_settings
from tests.support.backends import MEMORY_AND_REDIS, redis_settings
from tests.support.redis_server import RedisServer
from tests.support.servers import RunningServers, Server
from tests.support.socketio_client import SioClient
from tests.support.waiting import wait_for_condition

CHANNEL_KINDS: tuple[roomkey.HookKind, ...] = (
    "channel_occupied",
    "channel_vacated",
    "member_added",
    "member_removed",
)
# Leaves reach the hooks after [webhooks] leave_delay_seconds: short where no test re-joins.
SHORT_LEAVE_DELAY = 0.05


def one_app_settings(**app_overrides: Any) -> roomkey.Settings:
    """The test app alone (JWT identity, memory backends, the test channel rules)."""
    base = make_settings(**app_overrides)
    return replace(base, apps=base.apps[:1])


def hooks_settings(leave_delay: float = SHORT_LEAVE_DELAY, **hooks: float) -> roomkey.Settings:
    """``one_app_settings()`` with ``[hooks]`` from ``hooks`` and leaves held
    ``leave_delay`` seconds."""
    return replace(
        one_app_settings(),
        hooks=roomkey.HookSettings(**hooks),  # type: ignore[arg-type]
        webhooks=roomkey.WebhookSettings(leave_delay_seconds=leave_delay),
    )


class Recorded:
    """A hook that records each event it is called with."""

    def __init__(self) -> None:
        self.events: list[roomkey.HookEvent] = []

    async def __call__(self, event: roomkey.HookEvent) -> None:
        self.events.append(event)

    def of(self, kind: str, channel: str | None = None) -> list[roomkey.HookEvent]:
        return [e for e in self.events if e.kind == kind and channel in (None, e.channel)]


MARKER = "public-hook-marker"


async def marked(recorded: Recorded, client: SioClient) -> list[roomkey.HookEvent]:
    """Occupy and leave the marker channel and wait for its ``channel_vacated`` hook: it is
    held for the same window and comes due after anything that happened before it, so once
    it has run, so have those. Every event recorded, the marker's own left out."""
    assert await client.subscribe(MARKER) == {"channel": MARKER}
    await client.call("unsubscribe", {"channel": MARKER})
    await wait_for_condition(lambda: recorded.of("channel_vacated", MARKER), "the marker vacated")
    return [e for e in recorded.events if e.channel != MARKER]


@dataclass
class Host:
    """A running host application: ``server`` (its URL, its roomkey's prefix) and the
    ``handle`` ``setup`` returned."""

    server: Server
    handle: roomkey.Roomkey


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="host")


StartHost = Callable[..., Awaitable[Host]]


@pytest.fixture
async def start_host() -> AsyncIterator[StartHost]:
    """``await start_host(settings, prefix="", operations=False, build=None, after=None)``:
    a host app with its own ``GET /`` (``build(app)`` adds routes before ``setup``,
    ``after(app)`` after it), roomkey set up in it, served; every one is stopped at
    teardown."""
    servers = RunningServers()

    async def start(
        settings: roomkey.Settings | None = None,
        *,
        prefix: str = "",
        operations: bool = False,
        build: Callable[[web.Application], None] | None = None,
        after: Callable[[web.Application], None] | None = None,
    ) -> Host:
        app = web.Application()
        app.router.add_get("/", hello)
        if build is not None:
            build(app)
        handle = roomkey.setup(
            app, settings or one_app_settings(), prefix=prefix, operations=operations
        )
        if after is not None:
            after(app)
        server = await servers.serve(app, handle.prefix)
        await wait_for_condition(lambda: server.runtime.hub.broker.ready, "the broker ready")
        return Host(server, handle)

    yield start
    await servers.close()


@pytest.fixture(params=MEMORY_AND_REDIS)
def backend_settings(request: pytest.FixtureRequest) -> roomkey.Settings:
    """``one_app_settings()`` on memory backends, or with ``[redis]`` and the Redis session
    store on the session's redis-server."""
    base = one_app_settings()
    if request.param == "memory":
        return base
    redis_server: RedisServer = request.getfixturevalue("redis_server")
    return replace(
        base,
        redis=redis_settings(redis_server.url),
        session=roomkey.SessionSettings(store="redis", redis_url=redis_server.url),
    )
