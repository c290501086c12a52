"""``Clients``: opens test clients and closes every one of them at the end."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from roomkey.testing.client import TRANSPORTS, RoomkeyClient
from roomkey.testing.events import DEFAULT_TIMEOUT_S
from roomkey.testing.pusher_client import PusherClient
from roomkey.testing.socketio_client import SocketIOClient
from roomkey.testing.target import TargetLike, target_of

__all__ = ["Clients", "open_client"]


def open_client(
    where: TargetLike,
    transport: str = "socketio-websocket",
    *,
    token: str | None = None,
    origin: str | None = "",
    key: str = "",
) -> RoomkeyClient:
    """A client of the roomkey at ``where`` (``aiohttp_server``'s or ``aiohttp_client``'s
    result, or a ``Target``) over ``transport`` (one of ``TRANSPORTS``), not yet connected:
    log in through the host app first (``client.post("/login", ...)``), then ``await
    client.connect()``. The caller closes it (``Clients`` does that for you)."""
    target = target_of(where, key=key)
    if transport == "pusher":
        return PusherClient(target, token=token, origin=origin)
    if transport in ("socketio", "socketio-websocket"):
        return SocketIOClient(
            target, websocket_only=transport == "socketio-websocket", token=token, origin=origin
        )
    raise ValueError(f"transport must be one of {TRANSPORTS}, not {transport!r}")


class Clients:
    """Opens clients (``open``, ``connect``) and closes every one at ``close`` (or at the
    end of ``async with Clients() as clients:``). The ``roomkey_clients`` fixture is one.

    ``transport``: the default of ``open`` and ``connect``."""

    def __init__(self, transport: str = "socketio-websocket") -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {TRANSPORTS}, not {transport!r}")
        self.transport = transport
        self._open: list[RoomkeyClient] = []

    def open(
        self,
        where: TargetLike,
        transport: str | None = None,
        *,
        token: str | None = None,
        origin: str | None = "",
        key: str = "",
    ) -> RoomkeyClient:
        """``open_client(...)``, closed by ``close``: not yet connected."""
        client = open_client(
            where, transport or self.transport, token=token, origin=origin, key=key
        )
        self._open.append(client)
        return client

    async def connect(
        self,
        where: TargetLike,
        transport: str | None = None,
        *,
        user: str | None = None,
        user_info: dict[str, object] | None = None,
        token: str | None = None,
        origin: str | None = "",
        key: str = "",
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> RoomkeyClient:
        """A connected client. ``user``: logged in first through roomkey's own session
        store (``roomkey.testing.login``: the cookie a host app's ``handle.login`` sets);
        ``token``: a bearer token (``TokenFactory``) for the authorize endpoint and the
        Socket.IO handshake. Neither: an anonymous connection."""
        client = self.open(where, transport, token=token, origin=origin, key=key)
        if user is not None:
            from roomkey.testing.login import login

            await login(client, user, user_info)
        return await client.connect(timeout=timeout)

    async def close(self) -> None:
        """Close every client opened here, newest first."""
        while self._open:
            await self._open.pop().close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
