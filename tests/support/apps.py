"""The apps the tests configure, their secrets, and the JWTs that identify users."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import jwt as pyjwt

from roomkey.config import AppSettings, JwtSettings, RuleSettings, ServerSettings, Settings

APP_ID = "101"
APP_KEY = "test-key"
APP_SECRET = "test-secret-0123456789"
JWT_SECRET = "test-jwt-secret-0123456789-0123456789"
MASTER_KEY = bytes(range(32))  # the first app's encryption_master_key
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
        encryption_master_key=MASTER_KEY,
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
    """A JWT (HS256) for ``user_id`` that expires ``expires_in`` seconds from now."""
    payload = {"sub": user_id, "exp": int(time.time()) + expires_in, **claims}
    return pyjwt.encode(payload, secret, algorithm="HS256")
