"""``RoomkeyClient``: one test client, the same API over Socket.IO and over the Pusher
protocol (``roomkey.testing.socketio_client`` and ``pusher_client`` speak the wires).

A client is a browser in miniature: its own cookie jar (``http``, an aiohttp session that
the socket's handshake shares, so a login through the host app's own route identifies the
socket), an optional bearer token for the authorize endpoint (and Socket.IO's handshake),
and the page's origin (the server's own by default).
"""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import aiohttp

from roomkey.testing.events import (
    DEFAULT_TIMEOUT_S,
    NO_EVENT_WITHIN_S,
    Event,
    Inbox,
    Refused,
    Subscription,
    matches,
)
from roomkey.testing.target import Target

__all__ = ["TRANSPORTS", "Answer", "RoomkeyClient"]

# What ``transport=`` accepts: Socket.IO with its default transports (HTTP long-polling,
# then the upgrade to WebSocket: socket.io-client's default), Socket.IO over WebSocket only,
# and Pusher's own protocol (the one pusher-js and Laravel Echo speak).
TRANSPORTS = ("socketio", "socketio-websocket", "pusher")
# Every HTTP request of a client (authorize, the host app's routes) has this deadline.
HTTP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, body (decoded JSON when it is JSON, else text), headers."""

    status: int
    body: Any
    headers: dict[str, str]


def _needs_authorization(channel: str) -> bool:
    return channel.startswith(("private-", "presence-"))


class RoomkeyClient(ABC):
    """One connection to roomkey, identified by its cookies (``http``'s jar) and/or a
    bearer ``token``. Open with ``roomkey.testing.Clients`` (which closes it at the end),
    then ``await connect()``; every wait has a deadline.

    Not thread-safe; one event loop."""

    transport: str = ""

    def __init__(
        self,
        target: Target,
        *,
        token: str | None = None,
        origin: str | None = "",
        key: str | None = None,
    ) -> None:
        self.target = target
        self.token = token
        # "" = the server's own origin (a page it served); None sends no Origin header.
        self.origin = target.url if origin == "" else origin
        self.key = key if key is not None else target.app.key
        self.socket_id = ""
        self.errors: list[dict[str, Any]] = []
        self.inbox = Inbox()
        # unsafe: the jar keeps cookies of IP hosts (127.0.0.1), as a browser does.
        self.http = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S),
            trust_env=False,
        )

    # -- the host application, as the page's scripts would call it -------------------

    async def request(self, method: str, path: str, **kwargs: Any) -> Answer:
        """``method`` ``path`` on the host application (``path`` absolute: ``/login``) with
        this client's cookies and origin; the jar keeps what the answer sets."""
        headers = dict(kwargs.pop("headers", None) or {})
        if self.origin is not None:
            headers.setdefault("Origin", self.origin)
        async with self.http.request(
            method, self.target.http_url(path), headers=headers, **kwargs
        ) as resp:
            text = await resp.text()
            body: Any = text
            if resp.content_type == "application/json":
                body = json.loads(text)
            return Answer(resp.status, body, dict(resp.headers))

    async def post(self, path: str, **kwargs: Any) -> Answer:
        """``request("POST", path, **kwargs)`` (``json=``, ``data=``)."""
        return await self.request("POST", path, **kwargs)

    async def get(self, path: str, **kwargs: Any) -> Answer:
        """``request("GET", path, **kwargs)``."""
        return await self.request("GET", path, **kwargs)

    def cookie(self, name: str) -> str | None:
        """The value of cookie ``name`` in this client's jar, if any."""
        for morsel in self.http.cookie_jar:
            if morsel.key == name:
                return morsel.value
        return None

    # -- connecting -------------------------------------------------------------------

    async def connect(self, *, timeout: float = DEFAULT_TIMEOUT_S) -> Self:
        """Open the socket and wait for ``connection_established`` (``socket_id`` is set
        then). Raises ``Refused`` (stage "connect") when roomkey refuses the handshake."""
        await self._open(timeout)
        return self

    @abstractmethod
    async def _open(self, timeout: float) -> None: ...

    @property
    @abstractmethod
    def connected(self) -> bool:
        """True while the socket is open."""

    async def wait_closed(self, *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        """Return once the server has closed the socket; ``AssertionError`` at the
        deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.connected:
            if loop.time() >= deadline:
                raise AssertionError(f"the socket was still open after {timeout:g} s")
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        """Disconnect (if connected) and close the HTTP session. Idempotent."""
        try:
            await self._close_socket()
        finally:
            self.inbox.close("the client was closed")
            if not self.http.closed:
                await self.http.close()

    @abstractmethod
    async def _close_socket(self) -> None: ...

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- channels ---------------------------------------------------------------------

    async def authorize(self, channel: str) -> dict[str, Any]:
        """POST this socket's id and ``channel`` to roomkey's real authorize endpoint, with
        this client's cookies and token; the answer (``auth``, and ``channel_data`` or
        ``shared_secret`` where the channel has one). ``Refused`` (stage "authorize", the
        HTTP ``status``) otherwise."""
        self._need_socket()
        fields = {"socket_id": self.socket_id, "channel_name": channel}
        if self.key != self.target.settings.apps[0].key:  # the endpoint's default app
            fields["app_key"] = self.key
        return await self._authorize_at(self.target.auth_url, fields)

    async def user_auth(self) -> dict[str, Any]:
        """POST this socket's id to the user sign-in endpoint (``server.user_auth_path``):
        ``{"auth", "user_data"}``, or ``Refused`` (stage "authorize")."""
        self._need_socket()
        return await self._authorize_at(self.target.user_auth_url, {"socket_id": self.socket_id})

    async def _authorize_at(self, url: str, fields: dict[str, str]) -> dict[str, Any]:
        headers: dict[str, str] = {}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.origin is not None:
            headers["Origin"] = self.origin
        async with self.http.post(url, data=fields, headers=headers) as resp:
            body = await resp.json(content_type=None) if await resp.read() else None
            if resp.status != 200:
                error = body.get("error", {}) if isinstance(body, dict) else {}
                raise Refused(
                    "authorize",
                    str(error.get("message", f"HTTP {resp.status}")),
                    code=error.get("code"),
                    status=resp.status,
                    body=body,
                )
            assert isinstance(body, dict), body
            return body

    async def subscribe(
        self, channel: str, *, authorize: bool | None = None, timeout: float = DEFAULT_TIMEOUT_S
    ) -> Subscription:
        """Subscribe to ``channel``. Private, encrypted and presence channels are first
        authorized through the endpoint (``authorize``) unless ``authorize=False``: then the
        socket's handshake identity (a cookie, or a Socket.IO token) must admit it.
        ``Refused`` (stage "authorize" or "subscribe") when roomkey says no."""
        self._need_socket()
        auth: dict[str, Any] = {}
        if authorize or (authorize is None and _needs_authorization(channel)):
            auth = await self.authorize(channel)
        return await self._subscribe(channel, auth, timeout)

    @abstractmethod
    async def _subscribe(
        self, channel: str, auth: dict[str, Any], timeout: float
    ) -> Subscription: ...

    @abstractmethod
    async def unsubscribe(self, channel: str) -> None:
        """Leave ``channel`` (answered at once on both protocols)."""

    @abstractmethod
    async def trigger(self, channel: str, event: str, data: Any) -> None:
        """Send a client event (``event`` starts with ``client-``) on a subscribed private
        or presence channel. Socket.IO waits for the acknowledgement and raises ``Refused``
        (stage "trigger"); the Pusher protocol has none: a refusal arrives later as an
        ``errors`` entry."""

    # -- events -----------------------------------------------------------------------

    async def next_event(
        self, channel: str, event: str | None = None, *, timeout: float = DEFAULT_TIMEOUT_S
    ) -> Event:
        """The next unread event on ``channel`` (named ``event`` when given; others stay
        unread), waiting up to ``timeout`` seconds; ``AssertionError`` saying what was
        received instead at the deadline, or when the socket closes first."""
        found = await self.inbox.take(matches(channel, event), timeout)
        if found is not None:
            return found
        what = f"{event!r} on {channel!r}" if event else f"an event on {channel!r}"
        others = self.inbox.pending(lambda e: True)
        why = self.inbox.closed_because or f"nothing within {timeout:g} s"
        raise AssertionError(
            f"{self.transport} client {self.socket_id}: no {what}: {why}"
            + (f"; unread: {others[:5]}" if others else "")
            + (f"; errors: {self.errors}" if self.errors else "")
        )

    async def assert_no_event(
        self, channel: str, event: str | None = None, *, within: float = NO_EVENT_WITHIN_S
    ) -> None:
        """Assert that no event on ``channel`` (named ``event`` when given) arrives within
        ``within`` seconds (or is already unread); fails as soon as one does."""
        found = await self.inbox.take(matches(channel, event), within)
        if found is not None:
            raise AssertionError(f"unexpected event: {found}")

    def _need_socket(self) -> None:
        if not self.socket_id:
            raise RuntimeError("connect() first: the socket has no socket id yet")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.transport} socket_id={self.socket_id!r}>"
