"""Where a test client finds roomkey: a base URL, the route prefix, and the settings (the
app key, the authorize paths), taken from the running application when there is one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from roomkey.config import AppSettings, Settings

__all__ = ["AiohttpServer", "Target", "TargetLike", "target_of"]

AiohttpServer = Callable[..., Awaitable[TestServer]]
"""The type of pytest-aiohttp's ``aiohttp_server`` fixture (for annotations)."""


@runtime_checkable
class Served(Protocol):
    """Anything with the running aiohttp application and its base URL (roomkey's own test
    servers are)."""

    @property
    def app(self) -> web.Application: ...

    @property
    def url(self) -> str: ...


@dataclass(frozen=True)
class Target:
    """A running roomkey: ``url`` (``http://host:port``, no trailing slash), its
    ``settings``, and the ``prefix`` its routes are mounted under in the host application.

    ``app`` names which configured app the clients use: its key by default the first app's.
    """

    url: str
    settings: Settings
    prefix: str = ""
    key: str = ""
    # The host application, when the target was taken from a running one (``login`` needs
    # its roomkey).
    application: web.Application | None = field(default=None, compare=False, repr=False)

    @property
    def app(self) -> AppSettings:
        """The app the clients connect to (``key``, or the first configured)."""
        for app in self.settings.apps:
            if not self.key or app.key == self.key:
                return app
        raise LookupError(f"no app with key {self.key!r} in the settings")

    def http_url(self, path: str) -> str:
        """The absolute URL of ``path`` on the host application (no prefix added)."""
        return self.url + path

    @property
    def auth_url(self) -> str:
        """The channel authorize endpoint (``server.auth_path`` under the prefix)."""
        return self.url + self.prefix + self.settings.server.auth_path

    @property
    def user_auth_url(self) -> str:
        """The user sign-in endpoint (``server.user_auth_path`` under the prefix)."""
        return self.url + self.prefix + self.settings.server.user_auth_path

    @property
    def socketio_path(self) -> str:
        """Socket.IO's path under the prefix, without slashes (python-socketio's
        ``socketio_path``)."""
        return (self.prefix + "/socket.io").strip("/")

    def pusher_url(self, key: str, query: str) -> str:
        """The Pusher-protocol WebSocket URL of app ``key``."""
        return f"{'ws' + self.url.removeprefix('http')}{self.prefix}/app/{key}?{query}"


TargetLike = Target | TestServer | TestClient[Any, Any] | Served


def target_of(where: TargetLike, *, key: str = "") -> Target:
    """The ``Target`` of a running server: a ``Target`` as is (with ``key`` when given);
    pytest-aiohttp's ``aiohttp_server`` or ``aiohttp_client`` result; or any object with
    ``app`` and ``url`` (roomkey's own test servers). The settings and the prefix come from
    the roomkey running in that application (``roomkey.setup`` or ``create_app``), which
    must have started."""
    if isinstance(where, Target):
        return Target(where.url, where.settings, where.prefix, key or where.key, where.application)
    server: object = where.server if isinstance(where, TestClient) else where
    if isinstance(server, TestServer):
        url = str(server.make_url("")).rstrip("/")
        app = server.app
    elif isinstance(server, Served):
        url, app = server.url.rstrip("/"), server.app
    else:
        raise TypeError(f"not a running server: {where!r}")
    settings, prefix = mounted(app)
    return Target(url, settings, prefix, key, app)


def mounted(app: web.Application) -> tuple[Settings, str]:
    """The settings and the route prefix of the roomkey set up in ``app``
    (``Roomkey.of(app)``)."""
    from roomkey.handle import Roomkey

    try:
        handle = Roomkey.of(app)
    except LookupError:
        raise LookupError(
            "no roomkey in this application: call roomkey.setup(app, settings) before it "
            "starts (or serve roomkey.create_app(settings))"
        ) from None
    return handle.settings, handle.prefix
