"""roomkey: a Pusher-compatible private-channel server on aiohttp and python-socketio.

The public API, for applications that embed roomkey (docs/embedding.md) or build its
settings in code::

    from aiohttp import web
    import roomkey

    settings = roomkey.load_settings("roomkey.toml")  # or roomkey.parse_settings({...})
    app = web.Application()
    realtime = roomkey.setup(app, settings, prefix="/realtime")  # a roomkey.Roomkey

    async def news(request: web.Request) -> web.Response:
        await roomkey.Roomkey.of(request).publish("private-news", "posted", {"id": 1})
        return web.Response(text="sent")

- ``setup``, ``create_app``: mount roomkey in an aiohttp application (returning its
  ``Roomkey`` handle: publish, read channels and members, send to and terminate users, log
  users in and out, register hooks), or make one.
- ``Roomkey``, ``ChannelInfo``, ``Member``, ``BatchEvent``, ``ClientPaths``: the handle and
  the values it takes and returns; ``HookEvent``, ``HookKind``, ``Hook``: in-process hooks;
  ``RouteConflict``: a host route that overlaps one of roomkey's.
- ``load_settings``, ``parse_settings``: a TOML file, or a mapping of its tables (parsed TOML
  or built in code), to ``Settings``; ``ConfigError`` lists every problem with its path.
- ``development_settings``: the preset ``roomkey serve`` runs without a file (public
  credentials: development only).
- ``Settings`` and the dataclasses of its tables, frozen, each field a setting
  (docs/config.md).
- ``RoomkeyError`` and the errors the handle raises (``BadRequest``, ``LimitExceeded``,
  ``PayloadTooLarge``, ``UnknownApp``, ``ServiceUnavailable``, ``BackendError``).

Everything else is internal and may change between releases. The names that bring aiohttp
and python-socketio with them (``setup``, ``create_app``, ``Roomkey`` and the other
embedding names) are loaded on first use: ``import roomkey`` alone (the command line's
``--version``, a settings check, the pure core) does not load them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from roomkey.config import (
    AppIdentitySettings,
    AppSettings,
    ConfigError,
    HookSettings,
    IdentitySettings,
    JwtSettings,
    Limits,
    MetricsSettings,
    PerformanceSettings,
    RateLimits,
    RedisSettings,
    RuleSettings,
    ServerSettings,
    SessionSettings,
    Settings,
    WebhookSettings,
    WebhookTarget,
    development_settings,
    load_settings,
    parse_settings,
)
from roomkey.core.errors import (
    BackendError,
    BadRequest,
    LimitExceeded,
    PayloadTooLarge,
    RoomkeyError,
    ServiceUnavailable,
    UnknownApp,
)
from roomkey.core.members import Member

if TYPE_CHECKING:
    from roomkey.app import create_app, setup
    from roomkey.handle import BatchEvent, ClientPaths, Roomkey
    from roomkey.hooks import Hook, HookEvent, HookKind
    from roomkey.http.mounting import RouteConflict
    from roomkey.hub.publishing import ChannelInfo

__version__ = "0.1.0"

__all__ = [
    "AppIdentitySettings",
    "AppSettings",
    "BackendError",
    "BadRequest",
    "BatchEvent",
    "ChannelInfo",
    "ClientPaths",
    "ConfigError",
    "Hook",
    "HookEvent",
    "HookKind",
    "HookSettings",
    "IdentitySettings",
    "JwtSettings",
    "LimitExceeded",
    "Limits",
    "Member",
    "MetricsSettings",
    "PayloadTooLarge",
    "PerformanceSettings",
    "RateLimits",
    "RedisSettings",
    "Roomkey",
    "RoomkeyError",
    "RouteConflict",
    "RuleSettings",
    "ServerSettings",
    "ServiceUnavailable",
    "SessionSettings",
    "Settings",
    "UnknownApp",
    "WebhookSettings",
    "WebhookTarget",
    "create_app",
    "development_settings",
    "load_settings",
    "parse_settings",
    "setup",
]

# Loaded on first use (they import aiohttp and python-socketio): name -> module.
_LAZY = {
    "create_app": "roomkey.app",
    "setup": "roomkey.app",
    "Roomkey": "roomkey.handle",
    "BatchEvent": "roomkey.handle",
    "ClientPaths": "roomkey.handle",
    "ChannelInfo": "roomkey.hub.publishing",
    "Hook": "roomkey.hooks",
    "HookEvent": "roomkey.hooks",
    "HookKind": "roomkey.hooks",
    "RouteConflict": "roomkey.http.mounting",
}


def __getattr__(name: str) -> Any:
    """The embedding names (``setup``, ``Roomkey``, ...), imported when first asked for."""
    module_name = _LAZY.get(name)
    if module_name is not None:
        # Imported here, not at the top: the package would otherwise load aiohttp and
        # python-socketio (and every module of roomkey) for any ``import roomkey.<module>``.
        import importlib

        value = getattr(importlib.import_module(module_name), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
