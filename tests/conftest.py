"""Shared fixtures: a real roomkey on loopback, real Socket.IO clients, a real redis-server.

Nothing here mocks roomkey: tests start the real aiohttp application on a free port and talk
to it over TCP. A missing redis-server fails the tests that need it; it never skips them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import jwt as pyjwt
import pytest
import socketio
from aiohttp import web

from roomkey.app import create_app
from roomkey.config import AppSettings, JwtSettings, RuleSettings, ServerSettings, Settings
from roomkey.runtime import RUNTIME, Runtime

APP_ID = "101"
APP_KEY = "test-key"
APP_SECRET = "test-secret-0123456789"
JWT_SECRET = "test-jwt-secret-0123456789-0123456789"
OTHER_APP = AppSettings(id="202", key="other-key", secret="other-secret-0123456789")

TEST_RULES = (
    RuleSettings("private-user-{user_id}"),
    RuleSettings("private-user-*", allow=False),
    RuleSettings("private-encrypted-user-{user_id}"),
    RuleSettings("private-admin-*", claims=(("role", "admin"),)),
    RuleSettings("private-denied-*", allow=False),
    RuleSettings("private-*"),
    RuleSettings("presence-*"),
)


def make_settings(*, server: dict[str, Any] | None = None, **app_overrides: Any) -> Settings:
    """Two apps (the first is the one tests use), JWT identity, memory backends."""
    app = AppSettings(
        id=APP_ID,
        key=APP_KEY,
        secret=APP_SECRET,
        client_events=True,
        rules=TEST_RULES,
        encryption_master_key=bytes(range(32)),
    )
    app = replace(app, **app_overrides)
    return Settings(
        server=ServerSettings(**(server or {})),
        jwt=JwtSettings(secret=JWT_SECRET),
        apps=(app, OTHER_APP),
    )


def make_token(
    user_id: str = "42", *, expires_in: int = 300, secret: str = JWT_SECRET, **claims: Any
) -> str:
    payload = {"sub": user_id, "exp": int(time.time()) + expires_in, **claims}
    return pyjwt.encode(payload, secret, algorithm="HS256")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    app: web.Application
    runner: web.AppRunner
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def runtime(self) -> Runtime:
        return self.app[RUNTIME]


StartServer = Callable[..., Awaitable[Server]]


@pytest.fixture
async def start_server() -> AsyncIterator[StartServer]:
    """``await start_server(settings=None, policy=None)`` -> a running ``Server``."""
    runners: list[web.AppRunner] = []

    async def start(settings: Settings | None = None, policy: Any = None) -> Server:
        app = create_app(settings or make_settings(), policy=policy)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        runners.append(runner)
        return Server(app, runner, port)

    yield start
    for runner in reversed(runners):
        await runner.cleanup()


@pytest.fixture
async def server(start_server: StartServer) -> Server:
    return await start_server()


@dataclass
class SioClient:
    """A real python-socketio client that records what the server sends."""

    client: socketio.AsyncClient
    socket_id: str = ""
    received: dict[str, asyncio.Queue[Any]] = field(default_factory=dict)

    def queue(self, event: str) -> asyncio.Queue[Any]:
        return self.received.setdefault(event, asyncio.Queue())

    async def next(self, event: str, timeout: float = 3.0) -> Any:
        return await asyncio.wait_for(self.queue(event).get(), timeout)

    async def nothing(self, event: str, within: float = 0.3) -> None:
        """Assert that no ``event`` arrives within ``within`` seconds."""
        await asyncio.sleep(within)
        q = self.queue(event)
        assert q.empty(), f"unexpected {event}: {q.get_nowait()}"

    async def call(self, event: str, payload: Any = None, timeout: float = 3.0) -> Any:
        return await self.client.call(event, payload, timeout=timeout)

    async def subscribe(self, channel: str, **fields: Any) -> Any:
        return await self.call("subscribe", {"channel": channel, **fields})

    async def wait_disconnected(self, timeout: float = 2.5) -> None:
        """Assert that the server closes this client's socket within ``timeout`` seconds."""
        for _ in range(int(timeout / 0.01)):
            if not self.client.connected:
                break
            await asyncio.sleep(0.01)
        assert not self.client.connected


ConnectClient = Callable[..., Awaitable[SioClient]]


@pytest.fixture
async def connect() -> AsyncIterator[ConnectClient]:
    """``await connect(server, key=APP_KEY, token=None, headers=None)`` -> a connected client
    that has received ``connection_established``."""
    clients: list[socketio.AsyncClient] = []

    async def open_client(
        server: Server,
        key: str | None = APP_KEY,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        transports: list[str] | None = None,
    ) -> SioClient:
        client = socketio.AsyncClient(reconnection=False)
        wrapper = SioClient(client)
        for name in ("connection_established", "event", "member_added", "member_removed", "error"):
            client.on(name, (lambda n: lambda data=None: wrapper.queue(n).put_nowait(data))(name))
        auth: dict[str, Any] = {}
        if key is not None:
            auth["key"] = key
        if token is not None:
            auth["token"] = token
        clients.append(client)
        await client.connect(
            server.url,
            auth=auth,
            headers=headers or {},
            transports=transports or ["websocket"],
            wait_timeout=5,
        )
        established = await wrapper.next("connection_established")
        wrapper.socket_id = established["socket_id"]
        return wrapper

    yield open_client
    for client in clients:
        if client.connected:
            await client.disconnect()


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]
    workdir: str

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], capture_output=True, timeout=10, check=True
        )
        return out.stdout.decode().strip()


def start_redis(port: int | None = None, workdir: str | None = None) -> RedisServer:
    """A redis-server on ``port`` (free by default); ``workdir`` reuses a data directory, so
    that a server stopped with ``SHUTDOWN SAVE`` comes back with its data."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: run the README's test command (it installs it)")
    port = port or free_port()
    workdir = workdir or tempfile.mkdtemp(prefix="roomkey-redis-")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
            "--protected-mode",
            "yes",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return RedisServer(port, proc, workdir)
        except OSError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail("redis-server did not start")


def stop_redis(server: RedisServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(5)
    except subprocess.TimeoutExpired:
        server.process.kill()
    shutil.rmtree(server.workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the session; tests use distinct key prefixes or flush."""
    server = start_redis()
    yield server
    stop_redis(server)


@pytest.fixture(autouse=True)
def _no_proxy_env() -> None:
    os.environ.pop("HTTP_PROXY", None)
    os.environ.pop("http_proxy", None)


@pytest.fixture
async def raw_pusher() -> AsyncIterator[Any]:
    """``await raw_pusher(server, key=APP_KEY, protocol="7")`` -> a raw Pusher-protocol
    socket (tests/pusher_helpers.py); ``raw_pusher.established(server)`` also reads
    ``pusher:connection_established``."""
    import aiohttp

    from tests.pusher_helpers import RawPusherFactory

    async with aiohttp.ClientSession() as http:
        yield RawPusherFactory(http)


@pytest.fixture
async def node_pusher() -> AsyncIterator[Any]:
    """``await node_pusher(server, user_id="42", echo=False)`` -> pusher-js running in Node
    (tests/pusher_node.py); every process is stopped at teardown."""
    from tests.pusher_node import NodePusher

    started: list[NodePusher] = []

    async def start(server: Server, **kw: Any) -> NodePusher:
        client = await NodePusher.start(server, **kw)
        started.append(client)
        return client

    yield start
    for client in started:
        await client.stop()
