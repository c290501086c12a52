"""Config: TOML to frozen dataclasses; every error reported together, each with its path."""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest

from roomkey.config import (
    AppSettings,
    ConfigError,
    JwtSettings,
    Limits,
    RateLimits,
    RedisSettings,
    RuleSettings,
    ServerSettings,
    SessionSettings,
    Settings,
    WebhookSettings,
    development_settings,
    load_settings,
    parse_settings,
)
from tests.support.paths import CONFIG_EXAMPLE

APP = {"id": "1", "key": "k", "secret": "s" * 16}
EXAMPLE = CONFIG_EXAMPLE


def errors_of(data: dict[str, object]) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_settings(data)
    return err.value.errors


def test_minimal_config_takes_every_default() -> None:
    s = parse_settings({"apps": [APP]})
    assert s.server == ServerSettings()
    assert s.redis == RedisSettings()
    assert s.jwt == JwtSettings() and not s.jwt.enabled
    assert s.session == SessionSettings()
    assert s.apps == (AppSettings(id="1", key="k", secret="s" * 16),)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({}, "apps: at least one [[apps]] table is required"),
        ({"apps": [{"key": "k", "secret": "s" * 16}]}, "apps[0].id: is required"),
        ({"apps": [{**APP, "secret": ""}]}, "apps[0].secret: must be a non-empty string"),
        ({"apps": [{**APP, "secret": "short"}]}, "apps[0].secret: must be at least 16 characters"),
        ({"apps": [{**APP, "secret": 5}]}, "apps[0].secret: must be a string"),
        ({"apps": [{**APP, "key": "a:b"}]}, "apps[0].key: must not contain ':'"),
        ({"apps": [APP, APP]}, "apps[1].id: duplicates apps[0].id"),
        ({"apps": [APP, {**APP, "id": "2"}]}, "apps[1].key: duplicates apps[0].key"),
        ({"apps": [{**APP, "colour": "red"}]}, "apps[0].colour: unknown setting"),
        (
            {"apps": [{**APP, "client_events": "yes"}]},
            "apps[0].client_events: must be true or false",
        ),
        (
            {"apps": [{**APP, "encryption_master_key": "c2hvcnQ="}]},
            "apps[0].encryption_master_key: must be 32 bytes, base64-encoded",
        ),
        (
            {"apps": [{**APP, "limits": {"max_event_data_bytes": -1}}]},
            "apps[0].limits.max_event_data_bytes: must be at least 0",
        ),
        (
            {"apps": [{**APP, "limits": {"max_channels": 3}}]},
            "apps[0].limits.max_channels: unknown setting",
        ),
        ({"apps": [{**APP, "rules": [{"allow": True}]}]}, "apps[0].rules[0].pattern: is required"),
        (
            {"apps": [{**APP, "rules": [{"pattern": "private-user-{user_id"}]}]},
            "apps[0].rules[0].pattern: may only contain channel-name characters",
        ),
        (
            {"apps": [{**APP, "rules": [{"pattern": "private-{}-*"}]}]},
            "apps[0].rules[0].pattern: may only contain channel-name characters",
        ),
        (
            {"apps": [{**APP, "rules": [{"pattern": "private-*", "claims": {"role": [1]}}]}]},
            "apps[0].rules[0].claims: must be a table of strings",
        ),
        (
            {"apps": [{**APP, "webhooks": [{"url": "ftp://x"}]}]},
            "apps[0].webhooks[0].url: must be an http:// or https:// URL",
        ),
        (
            {"apps": [{**APP, "webhooks": [{"url": "http://x", "event_types": ["nope"]}]}]},
            "apps[0].webhooks[0].event_types: unknown event types nope",
        ),
        (
            {"apps": [APP], "server": {"port": 70000}},
            "server.port: must be at least 0 and at most 65535",
        ),
        (
            {"apps": [APP], "server": {"mode": "dev"}},
            "server.mode: must be one of production, development",
        ),
        ({"apps": [APP], "server": {"auth_path": "auth"}}, "server.auth_path: must start with /"),
        (
            {"apps": [APP], "server": {"allowed_origins": "x"}},
            "server.allowed_origins: must be a list of strings",
        ),
        (
            {"apps": [APP], "server": {"workers": 2}},
            "server.workers: more than one worker needs redis.url",
        ),
        ({"apps": [APP], "server": 3}, "server: must be a table"),
        ({"apps": [APP], "redis": {"url": "http://x"}}, "redis.url: must start with redis://"),
        (
            {"apps": [APP], "redis": {"heartbeat_seconds": 5, "node_timeout_seconds": 4}},
            "redis.node_timeout_seconds: must be longer than heartbeat_seconds",
        ),
        (
            {"apps": [APP], "jwt": {"algorithms": ["none"]}},
            "jwt.algorithms: must be a non-empty list",
        ),
        ({"apps": [APP], "jwt": {"algorithms": []}}, "jwt.algorithms: must be a non-empty list"),
        (
            {"apps": [APP], "jwt": {"algorithms": ["HS256", "RS256"]}},
            "jwt.algorithms: must not mix HS* with public-key algorithms",
        ),
        (
            {"apps": [APP], "jwt": {"algorithms": ["RS256"], "secret": "x" * 32}},
            "jwt.secret: is for HS* algorithms",
        ),
        (
            {"apps": [APP], "jwt": {"public_key": "PEM"}},
            "jwt.public_key: is for public-key algorithms",
        ),
        ({"apps": [APP], "jwt": {"secret": "short"}}, "jwt.secret: must be at least 32 characters"),
        (
            {
                "apps": [APP],
                "jwt": {"public_key_file": "/nonexistent/key.pem", "algorithms": ["RS256"]},
            },
            "jwt.public_key_file: cannot read",
        ),
        (
            {"apps": [APP], "session": {"store": "file"}},
            "session.store: must be one of memory, redis",
        ),
        (
            {"apps": [APP], "session": {"store": "redis"}},
            'session.store: "redis" needs session.redis_url',
        ),
        ({"apps": [APP], "webhooks": {"queue_size": 0}}, "webhooks.queue_size: must be at least 1"),
        (
            {"apps": [APP], "rate_limits": {"authorize_per_minute_per_user": 1.5}},
            "rate_limits.authorize_per_minute_per_user: must be an integer",
        ),
        ({"apps": [APP], "typo": {}}, "typo: unknown setting"),
    ],
)
def test_each_error_names_its_path(data: dict[str, object], expected: str) -> None:
    errors = errors_of(data)
    assert any(e.startswith(expected) for e in errors), errors


SENTINELS = ["10.0.0.1:26379", "10.0.0.2:26379", "10.0.0.3:26379"]


@pytest.mark.parametrize(
    ("redis", "expected"),
    [
        (
            {"url": "redis://x:6379/0", "sentinels": SENTINELS, "sentinel_master": "m"},
            "redis.sentinels: cannot be combined with url: choose one Redis topology",
        ),
        (
            {"sentinels": SENTINELS, "sentinel_master": "m", "cluster_nodes": ["a:7000"]},
            "redis.cluster_nodes: cannot be combined with sentinels",
        ),
        ({"sentinels": SENTINELS}, "redis.sentinel_master: is required with sentinels"),
        (
            {"cluster_nodes": ["a:7000"], "sentinel_master": "m"},
            "redis.sentinel_master: applies only with sentinels",
        ),
        ({"url": "redis://x:6379/0", "sentinel_password": "p"}, "redis.sentinel_password:"),
        (
            {"url": "redis://x:6379/0", "password": "p"},
            "redis.password: is for sentinels or cluster_nodes; a url carries its own",
        ),
        ({"url": "redis://x:6379/0", "tls": True}, "redis.tls: is for sentinels or cluster_nodes"),
        ({"password": "p"}, "redis.password: needs a Redis topology"),
        ({"cluster_nodes": ["a:7000"], "tls_ca_file": "/ca.pem"}, "redis.tls_ca_file: applies"),
        (
            {"cluster_nodes": ["a", "b:x", "[::1]:7000"]},
            "redis.cluster_nodes: 'a' is not host:port",
        ),
        ({"sentinels": ["b:99999"], "sentinel_master": "m"}, "redis.sentinels: 'b:99999' is not"),
    ],
)
def test_impossible_redis_topologies_are_refused(redis: dict[str, object], expected: str) -> None:
    errors = errors_of({"apps": [APP], "redis": redis})
    assert any(e.startswith(expected) for e in errors), errors


def test_each_redis_topology_reads() -> None:
    single = parse_settings({"apps": [APP], "redis": {"url": "redis://x:6379/0"}}).redis
    sentinel = parse_settings(
        {
            "apps": [APP],
            "redis": {"sentinels": SENTINELS, "sentinel_master": "m", "password": "p"},
        }
    ).redis
    cluster = parse_settings(
        {"apps": [APP], "redis": {"cluster_nodes": ["[::1]:7000"], "tls": True}}
    ).redis
    assert (single.mode, sentinel.mode, cluster.mode) == ("single", "sentinel", "cluster")
    assert sentinel.sentinels == tuple(SENTINELS) and cluster.cluster_nodes == ("[::1]:7000",)
    assert parse_settings({"apps": [APP]}).redis.mode == ""
    # A topology other than a url is enough for workers and Redis sessions.
    settings = parse_settings(
        {
            "apps": [APP],
            "server": {"workers": 2},
            "session": {"store": "redis"},
            "redis": {"cluster_nodes": ["a:7000"]},
        }
    )
    assert settings.redis.enabled


def test_all_errors_are_reported_together() -> None:
    errors = errors_of(
        {"apps": [{"id": "1", "key": "k", "secret": "x"}], "server": {"port": "80", "mode": "?"}}
    )
    assert errors == [
        "server.port: must be an integer",
        "server.mode: must be one of production, development",
        "apps[0].secret: must be at least 16 characters",
    ]


def test_full_app_parses(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        """
[server]
allowed_origins = ["https://app.example.com"]
[jwt]
secret = "0123456789abcdef0123456789abcdef"
user_info_claims = ["name", "email"]
[[apps]]
id = "7"
key = "k7"
secret = "k7-secret-0123456789"
encryption_master_key = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
[apps.limits]
max_presence_members = 5
[[apps.rules]]
pattern = "private-admin-*"
claims = { role = "admin", staff = true }
[[apps.rules]]
pattern = "private-*"
allow = false
"""
    )
    s = load_settings(path)
    app = s.apps[0]
    assert app.encryption_master_key == bytes(range(32, 64))
    assert app.limits == Limits(max_presence_members=5)
    assert app.rules == (
        RuleSettings("private-admin-*", claims=(("role", "admin"), ("staff", "true"))),
        RuleSettings("private-*", allow=False),
    )
    assert s.jwt.user_info_claims == ("name", "email")
    assert s.server.allowed_origins == ("https://app.example.com",)


def test_unreadable_and_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad)


def test_settings_are_frozen() -> None:
    s = development_settings()
    with pytest.raises(AttributeError):
        s.server.port = 1  # type: ignore[misc]


def test_development_preset() -> None:
    s = development_settings(port=7000)
    app = s.apps[0]
    assert (app.id, app.key, app.secret) == ("1", "roomkey-dev-key", "roomkey-dev-secret")
    assert s.server.port == 7000 and s.server.host == "127.0.0.1" and s.server.development
    assert s.jwt.enabled and not s.redis.url


# -- config.example.toml never drifts from the dataclasses ------------------------------


def _documented_keys(text: str) -> dict[str, set[str]]:
    """Keys written (or commented out as ``# key = ...``) under each table header."""
    table = ""
    keys: dict[str, set[str]] = {}
    for raw in text.splitlines():
        line = raw.strip().lstrip("#").strip()
        header = re.fullmatch(r"\[\[?([a-z_.]+)\]\]?", line)
        if header:
            table = header.group(1)
            continue
        name, eq, _ = line.partition("=")
        name = name.strip()
        if eq and name.replace("_", "").isalnum():
            keys.setdefault(table, set()).add(name)
    return keys


def test_example_documents_every_setting() -> None:
    documented = _documented_keys(EXAMPLE.read_text())
    # Every table of Settings, found from the dataclass itself so a new section cannot be
    # forgotten here.
    top_level = {
        f.name: type(getattr(Settings(), f.name)) for f in fields(Settings) if f.name != "apps"
    }
    assert {"server", "redis", "jwt", "session", "webhooks", "rate_limits"} <= set(top_level)
    tables: dict[str, type | None] = {
        **top_level,
        "apps": AppSettings,
        "apps.limits": Limits,
        "apps.rules": RuleSettings,
        "apps.webhooks": None,
    }
    # Sub-tables of a table ([identity.app]) are documented under their own header.
    for table in top_level:
        section = getattr(Settings(), table)
        for f in fields(section):
            sub = getattr(section, f.name)
            if is_dataclass(sub):
                tables[f"{table}.{f.name}"] = type(sub)
    for table, cls in tables.items():
        if cls is None:
            assert {"url", "event_types"} <= documented.get(table, set()), table
            continue
        nested = {f.name for f in fields(cls) if f"{table}.{f.name}" in tables}
        names = {f.name for f in fields(cls)} - {"limits", "rules", "webhooks"} - nested
        missing = names - documented.get(table, set())
        assert not missing, f"config.example.toml [{table}] does not document {missing}"
    assert "public_key_file" in documented["jwt"]
    assert {"secret_key_file", "secrets_file"} <= documented["session"]
    assert "identity.app" in tables


def test_example_values_are_the_defaults() -> None:
    # Its placeholder secret is refused as it is (tests/test_unsafe_defaults.py).
    s = parse_settings(
        tomllib.loads(EXAMPLE.read_text().replace("change-me-secret-0123456789", "x7" * 16))
    )
    assert s.server == ServerSettings()
    assert s.redis == RedisSettings()
    assert s.jwt == JwtSettings()
    assert s.session == SessionSettings()
    assert s.webhooks == WebhookSettings()
    assert s.rate_limits == RateLimits()
    for f in fields(Settings):
        if f.name != "apps":
            assert getattr(s, f.name) == getattr(Settings(), f.name), f.name
    app = s.apps[0]
    assert app.limits == Limits()
    defaults = AppSettings(id=app.id, key=app.key, secret=app.secret, name=app.name)
    for f in fields(AppSettings):
        if f.name not in ("rules",):
            assert getattr(app, f.name) == getattr(defaults, f.name), f.name
    # The example's rules parse and are the documented ones.
    raw = tomllib.loads(EXAMPLE.read_text())
    assert [r.pattern for r in app.rules] == [r["pattern"] for r in raw["apps"][0]["rules"]]
