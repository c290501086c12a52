"""Real python-socketio clients: ``SioClient`` records what roomkey sends (the ``connect``
fixture opens them), ``refused`` expects a handshake to be refused."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import socketio

from tests.support.apps import APP_KEY
from tests.support.servers import Server
from tests.support.waiting import wait_for_condition

# The server-to-client events a SioClient records, each in a queue of its own.
RECORDED_EVENTS = (
    "connection_established",
    "event",
    "member_added",
    "member_removed",
    "error",
    "cache_miss",
    "subscription_count",
    "watchlist",
)


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
        await wait_for_condition(
            lambda: not self.client.connected, "the server to close the socket", timeout=timeout
        )
        assert not self.client.connected


ConnectClient = Callable[..., Awaitable[SioClient]]


class SioClients:
    """Opens recording clients (``open``) and disconnects those still connected (``close``)."""

    def __init__(self) -> None:
        self._clients: list[socketio.AsyncClient] = []

    async def open(
        self,
        server: Server,
        key: str | None = APP_KEY,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        transports: list[str] | None = None,
    ) -> SioClient:
        """A client connected to ``server`` (over WebSocket unless ``transports`` says
        otherwise) that has received ``connection_established``."""
        client = socketio.AsyncClient(reconnection=False)
        wrapper = SioClient(client)
        for name in RECORDED_EVENTS:
            client.on(name, (lambda n: lambda data=None: wrapper.queue(n).put_nowait(data))(name))
        auth: dict[str, Any] = {}
        if key is not None:
            auth["key"] = key
        if token is not None:
            auth["token"] = token
        self._clients.append(client)
        await client.connect(
            server.url,
            auth=auth,
            headers=headers or {},
            transports=transports or ["websocket"],
            socketio_path=f"{server.prefix}/socket.io",
            wait_timeout=5,
        )
        established = await wrapper.next("connection_established")
        wrapper.socket_id = established["socket_id"]
        return wrapper

    async def close(self) -> None:
        for client in self._clients:
            if client.connected:
                await client.disconnect()
        self._clients.clear()


async def refused(
    server: Server,
    auth: dict[str, Any] | None,
    headers: dict[str, str] | None = None,
    query: str = "",
) -> Any:
    """Connect and expect a refusal; returns the ``connect_error`` data (the client's own
    message when the refusal came before Socket.IO, e.g. an origin refused by Engine.IO)."""
    client = socketio.AsyncClient(reconnection=False)
    errors: list[Any] = []
    client.on("connect_error", lambda data=None: errors.append(data))
    try:
        await client.connect(
            server.url + query,
            auth=auth,
            headers=headers or {},
            transports=["websocket"],
            socketio_path=f"{server.prefix}/socket.io",
            wait_timeout=5,
        )
    except socketio.exceptions.ConnectionError:
        return errors[0] if errors else None
    finally:
        await client.disconnect()
    raise AssertionError("the connection was accepted")
