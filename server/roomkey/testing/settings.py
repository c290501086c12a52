"""Settings for tests: one app with fresh random credentials, memory backends (or a given
Redis), short webhook batches, no metrics listener.

Every call makes new secrets, so that no test depends on a credential another test (or a
real deployment) uses, and a test that hard-codes one fails.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import fields, replace
from typing import Any

from roomkey.config import (
    AppSettings,
    JwtSettings,
    MetricsSettings,
    RedisSettings,
    RuleSettings,
    ServerSettings,
    Settings,
    WebhookSettings,
    WebhookTarget,
)

__all__ = ["DEFAULT_RULES", "redis_test_settings", "test_redis_settings", "test_settings"]

# The development preset's rules: each user has a private and an encrypted channel of their
# own; private-chat-* and presence-* admit any identified user.
DEFAULT_RULES: tuple[RuleSettings, ...] = (
    RuleSettings("private-user-{user_id}"),
    RuleSettings("private-encrypted-user-{user_id}"),
    RuleSettings("private-chat-*"),
    RuleSettings("presence-*"),
)

_TABLES = frozenset(f.name for f in fields(Settings))


def test_settings(
    *,
    rules: Sequence[RuleSettings | str] | None = None,
    webhook_url: str = "",
    redis_url: str = "",
    app: Mapping[str, Any] | None = None,
    **tables: Any,
) -> Settings:
    """``Settings`` for one test: one app (id ``test-app``, a random key, secret and
    encryption master key, client events on), a random ``[jwt]`` secret (HS256), memory
    backends, same-origin only, the metrics listener off, webhooks batched every 10 ms.

    ``rules``: the app's channel rules, as ``RuleSettings`` or patterns (each allowing);
    ``DEFAULT_RULES`` when omitted. ``webhook_url``: one webhook target receiving every
    event type (``roomkey.testing.WebhookReceiver.url``). ``redis_url``: Redis backends
    (broker, presence, cluster, rate limits) with a key prefix of their own and short
    heartbeats; the session store stays in memory unless ``session=`` says otherwise.
    ``app``: other ``AppSettings`` fields (``{"require_identity": True}``). ``tables``: whole
    tables replaced by keyword (``server=ServerSettings(...)``, ``jwt=...``,
    ``session=...``, ``apps=(...)``).

    The name starts with ``test`` but it is no test: pytest collects only names from test
    modules, and this one is imported, so tests may ``from roomkey.testing import
    test_settings`` (``__test__ = False`` says so to pytest too).
    """
    unknown = set(tables) - _TABLES
    if unknown:
        raise TypeError(f"test_settings: unknown settings tables {sorted(unknown)}")
    chosen = DEFAULT_RULES if rules is None else tuple(_rule(r) for r in rules)
    the_app = AppSettings(
        id="test-app",
        key=f"test-key-{secrets.token_hex(6)}",
        secret=secrets.token_hex(24),
        name="test",
        client_events=True,
        encryption_master_key=secrets.token_bytes(32),
        rules=chosen,
        webhooks=(WebhookTarget(webhook_url),) if webhook_url else (),
    )
    if app:
        the_app = replace(the_app, **dict(app))
    values: dict[str, Any] = {
        "server": ServerSettings(port=0, shutdown_timeout_seconds=2.0),
        "jwt": JwtSettings(secret=secrets.token_hex(32)),
        "webhooks": WebhookSettings(batch_ms=10, retry_for_seconds=5.0, timeout_seconds=2.0),
        "metrics": MetricsSettings(enabled=False),
        "apps": (the_app,),
    }
    if redis_url:
        values["redis"] = test_redis_settings(redis_url)
    values.update(tables)
    return Settings(**values)


test_settings.__test__ = False  # type: ignore[attr-defined]


def redis_test_settings(redis_url: str, **overrides: Any) -> Settings:
    """``test_settings(redis_url=redis_url, **overrides)``: the same app on Redis backends
    (a running redis-server: ``roomkey.testing.RedisServer``)."""
    return test_settings(redis_url=redis_url, **overrides)


def test_redis_settings(url: str = "", **overrides: Any) -> RedisSettings:
    """``[redis]`` for a test: ``url`` (or, in ``overrides``, another topology), a key prefix
    of its own (tests sharing one redis-server keep apart), heartbeats and node timeouts
    short enough to happen within a test, and ``overrides``."""
    values: dict[str, Any] = {
        "url": url,
        "prefix": f"t{uuid.uuid4().hex[:10]}",
        "heartbeat_seconds": 0.2,
        "node_timeout_seconds": 0.8,
        "operation_timeout_seconds": 0.5,
    }
    values.update(overrides)
    return RedisSettings(**values)


test_redis_settings.__test__ = False  # type: ignore[attr-defined]


def _rule(rule: RuleSettings | str) -> RuleSettings:
    return rule if isinstance(rule, RuleSettings) else RuleSettings(rule)
