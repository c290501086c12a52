"""roomkey's real aiohttp application on a free loopback port, in the test's own loop."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from roomkey.app import create_app
from roomkey.config import Settings
from roomkey.runtime import RUNTIME, Runtime
from tests.support.apps import make_settings


def free_port() -> int:
    """A TCP port free on 127.0.0.1 a moment ago (for processes that need it up front)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    app: web.Application
    runner: web.AppRunner
    port: int
    # Where roomkey's routes are (``setup(prefix=...)`` in a host application): the clients
    # of tests/support (Socket.IO, raw Pusher) connect under it.
    prefix: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def runtime(self) -> Runtime:
        return self.app[RUNTIME]


StartServer = Callable[..., Awaitable[Server]]


class RunningServers:
    """Starts roomkey apps (``start``) and stops every one of them, newest first (``close``)."""

    def __init__(self) -> None:
        self._runners: list[web.AppRunner] = []

    async def start(self, settings: Settings | None = None, policy: Any = None) -> Server:
        """``create_app(settings or make_settings(), policy=policy)`` serving on a port the
        system chose; returns once it listens."""
        return await self.serve(create_app(settings or make_settings(), policy=policy))

    async def serve(self, app: web.Application, prefix: str = "") -> Server:
        """Serve ``app`` (roomkey's own, or a host application that mounts roomkey under
        ``prefix``) on a port the system chose; returns once it listens."""
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        self._runners.append(runner)
        return Server(app, runner, port, prefix)

    async def close(self) -> None:
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
