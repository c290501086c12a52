"""The development preset: what ``roomkey serve`` runs with when no file is given.

Its credentials are public (the README and docs show them, the demo signs with them), so
``checks`` refuses each of them in production mode and keeps development mode on loopback.
"""

from __future__ import annotations

from roomkey.config.settings import (
    AppSettings,
    JwtSettings,
    MetricsSettings,
    RuleSettings,
    ServerSettings,
    Settings,
)

__all__ = [
    "DEV_APP_ID",
    "DEV_APP_KEY",
    "DEV_APP_SECRET",
    "DEV_ENCRYPTION_MASTER_KEY",
    "DEV_JWT_SECRET",
    "development_settings",
]

DEV_APP_ID = "1"
DEV_APP_KEY = "roomkey-dev-key"
DEV_APP_SECRET = "roomkey-dev-secret"
DEV_JWT_SECRET = "roomkey-dev-jwt-secret-change-me-0123456789"
DEV_ENCRYPTION_MASTER_KEY = bytes(range(32))


def development_settings(port: int = 6001, host: str = "127.0.0.1") -> Settings:
    """The preset of ``roomkey serve`` without a file: one development app, memory backends,
    the demo at ``/``, a JWT secret the demo signs its tokens with, the metrics listener on a
    free loopback port (so that the preset never fails for a busy port). Every secret in it is
    public, so production mode refuses them (``roomkey.config.checks``)."""
    app = AppSettings(
        id=DEV_APP_ID,
        key=DEV_APP_KEY,
        secret=DEV_APP_SECRET,
        name="development",
        client_events=True,
        encryption_master_key=DEV_ENCRYPTION_MASTER_KEY,
        rules=(
            RuleSettings("private-user-{user_id}"),
            RuleSettings("private-encrypted-user-{user_id}"),
            RuleSettings("private-chat-*"),
            RuleSettings("presence-*"),
        ),
    )
    return Settings(
        server=ServerSettings(host=host, port=port, mode="development"),
        jwt=JwtSettings(secret=DEV_JWT_SECRET),
        apps=(app,),
        metrics=MetricsSettings(port=0),
    )
