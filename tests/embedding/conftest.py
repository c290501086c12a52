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
from tests.support.waiting import wait_for_condition


def one_app_settings(**app_overrides: Any) -> roomkey.Settings:
    """The test app alone (JWT identity, memory backends, the test channel rules)."""
    base = make_settings(**app_overrides)
    return replace(base, apps=base.apps[:1])


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
