"""roomkey: a Pusher-compatible private-channel server on aiohttp and python-socketio.

The public API, for applications that embed roomkey or build its settings in code::

    from aiohttp import web
    import roomkey

    settings = roomkey.load_settings("roomkey.toml")  # or roomkey.Settings(apps=(...,))
    app = roomkey.create_app(settings)  # or roomkey.setup(your_app, settings)
    web.run_app(app, port=settings.server.port)

- ``setup``, ``create_app``: mount roomkey in an aiohttp application, or make one.
- ``load_settings``, ``parse_settings``: a TOML file, or its parsed tables, to ``Settings``;
  ``ConfigError`` lists every problem with its path.
- ``development_settings``: the preset ``roomkey serve`` runs without a file (public
  credentials: development only).
- ``Settings`` and the dataclasses of its tables, frozen, each field a setting
  (docs/config.md).

Everything else is internal and may change between releases. ``setup`` and ``create_app``
are loaded on first use: they bring aiohttp and python-socketio with them, which ``import
roomkey`` alone (the command line's ``--version``, a settings check, the pure core) does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from roomkey.config import (
    AppIdentitySettings,
    AppSettings,
    ConfigError,
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

if TYPE_CHECKING:
    from roomkey.app import create_app, setup

__version__ = "0.1.0"

__all__ = [
    "AppIdentitySettings",
    "AppSettings",
    "ConfigError",
    "IdentitySettings",
    "JwtSettings",
    "Limits",
    "MetricsSettings",
    "PerformanceSettings",
    "RateLimits",
    "RedisSettings",
    "RuleSettings",
    "ServerSettings",
    "SessionSettings",
    "Settings",
    "WebhookSettings",
    "WebhookTarget",
    "create_app",
    "development_settings",
    "load_settings",
    "parse_settings",
    "setup",
]

_FROM_APP = ("create_app", "setup")


def __getattr__(name: str) -> Any:
    """``setup`` and ``create_app``, imported from ``roomkey.app`` when first asked for."""
    if name in _FROM_APP:
        # Imported here, not at the top: the package would otherwise load aiohttp and
        # python-socketio (and every module of roomkey) for any ``import roomkey.<module>``.
        import roomkey.app

        value = getattr(roomkey.app, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_FROM_APP})
