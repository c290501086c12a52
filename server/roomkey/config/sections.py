"""The readers of each TOML section: one table in, one frozen settings dataclass out.

Each ``read_<section>(reader)`` reads its keys with their defaults, checks what can be checked
within the section, records every problem on the reader's error list (with its path) and
reports unknown keys. Checks that span sections live in ``config.parse_settings``, the only
caller.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from pathlib import Path

from roomkey.config import (
    WEBHOOK_EVENT_TYPES,
    AppSettings,
    JwtSettings,
    Limits,
    MetricsSettings,
    PerformanceSettings,
    RateLimits,
    RedisSettings,
    RuleSettings,
    ServerSettings,
    SessionSettings,
    WebhookSettings,
    WebhookTarget,
)
from roomkey.config.reader import TableReader
from roomkey.redis_keys import name_problem


def read_server(r: TableReader) -> ServerSettings:
    d = ServerSettings()
    s = ServerSettings(
        host=r.text("host", d.host),
        port=r.integer("port", d.port, minimum=0, maximum=65535),
        workers=r.integer("workers", d.workers, minimum=1, maximum=64),
        mode=r.text("mode", d.mode, choices=("production", "development")),
        web_root=_web_root(r, d.web_root),
        log_format=r.text("log_format", d.log_format, choices=("text", "json")),
        log_level=r.text("log_level", d.log_level, choices=("debug", "info", "warning", "error")),
        auth_path=_path(r, "auth_path", d.auth_path),
        user_auth_path=_path(r, "user_auth_path", d.user_auth_path),
        allowed_origins=r.str_list("allowed_origins", d.allowed_origins),
        trusted_proxies=r.str_list("trusted_proxies", d.trusted_proxies),
        activity_timeout=r.integer("activity_timeout", d.activity_timeout, minimum=1, maximum=3600),
        shutdown_timeout_seconds=r.number("shutdown_timeout_seconds", d.shutdown_timeout_seconds),
        request_body_timeout_seconds=r.number(
            "request_body_timeout_seconds", d.request_body_timeout_seconds, minimum=0.05
        ),
        compression=r.flag("compression", d.compression),
        pusher_pong_timeout_seconds=r.number(
            "pusher_pong_timeout_seconds", d.pusher_pong_timeout_seconds, minimum=0.05
        ),
        ping_interval_seconds=r.number(
            "ping_interval_seconds", d.ping_interval_seconds, minimum=1.0
        ),
        ping_timeout_seconds=r.number("ping_timeout_seconds", d.ping_timeout_seconds, minimum=0.1),
    )
    for proxy in s.trusted_proxies:
        try:
            ipaddress.ip_network(proxy.strip(), strict=False)
        except ValueError:
            r.error("trusted_proxies", f"{proxy!r} is not an IP address or CIDR network")
    r.finish()
    return s


def _path(r: TableReader, key: str, default: str) -> str:
    value = r.text(key, default)
    if not value.startswith("/"):
        r.error(key, "must start with /")
        return default
    return value


def _web_root(r: TableReader, default: str) -> str:
    value = r.text("web_root", default)
    if value and not (Path(value) / "roomkey.js").is_file():
        r.error("web_root", f"{value} has no roomkey.js (it must be roomkey's web/ directory)")
        return default
    return value


def read_redis(r: TableReader) -> RedisSettings:
    d = RedisSettings()
    s = RedisSettings(
        url=r.text("url", d.url),
        prefix=r.text("prefix", d.prefix),
        heartbeat_seconds=r.number("heartbeat_seconds", d.heartbeat_seconds, minimum=0.1),
        node_timeout_seconds=r.number("node_timeout_seconds", d.node_timeout_seconds, minimum=0.3),
        operation_timeout_seconds=r.number(
            "operation_timeout_seconds", d.operation_timeout_seconds, minimum=0.05
        ),
    )
    _safe_name(r, "prefix", s.prefix, MAX_PREFIX_CHARS)
    if s.url and not s.url.startswith(("redis://", "rediss://", "unix://")):
        r.error("url", "must start with redis://, rediss:// or unix://")
    if s.node_timeout_seconds <= s.heartbeat_seconds:
        r.error("node_timeout_seconds", "must be longer than heartbeat_seconds")
    r.finish()
    return s


_JWT_ALGORITHMS = (
    "HS256",
    "HS384",
    "HS512",
    "RS256",
    "RS384",
    "RS512",
    "ES256",
    "ES384",
    "ES512",
    "PS256",
    "EdDSA",
)


def read_jwt(r: TableReader) -> JwtSettings:
    d = JwtSettings()
    public_key = r.text("public_key", d.public_key)
    public_key_file = r.text("public_key_file", "")
    if public_key_file:
        try:
            public_key = Path(public_key_file).read_text(encoding="utf-8")
        except OSError as exc:
            r.error("public_key_file", f"cannot read ({exc.strerror})")
    s = JwtSettings(
        algorithms=r.str_list("algorithms", d.algorithms),
        secret=r.text("secret", d.secret),
        public_key=public_key,
        audience=r.text("audience", d.audience),
        issuer=r.text("issuer", d.issuer),
        user_id_claim=r.text("user_id_claim", d.user_id_claim),
        user_info_claims=r.str_list("user_info_claims", d.user_info_claims),
        leeway_seconds=r.number("leeway_seconds", d.leeway_seconds),
    )
    bad = [a for a in s.algorithms if a not in _JWT_ALGORITHMS]
    if bad or not s.algorithms:
        r.error(
            "algorithms",
            f"must be a non-empty list of {', '.join(_JWT_ALGORITHMS)} ('none' is never allowed)",
        )
    hs = [a for a in s.algorithms if a.startswith("HS")]
    asym = [a for a in s.algorithms if not a.startswith("HS")]
    if hs and asym:
        # Mixing families is how a public key ends up used as an HMAC secret.
        r.error("algorithms", "must not mix HS* with public-key algorithms")
    if s.secret and asym:
        r.error("secret", "is for HS* algorithms; use public_key for " + ", ".join(asym))
    if s.public_key and hs:
        r.error("public_key", "is for public-key algorithms; use secret for HS*")
    if s.secret and len(s.secret) < 32:
        r.error("secret", "must be at least 32 characters")
    r.finish()
    return s


MAX_SESSION_RECHECK_SECONDS = 300.0


def read_session(r: TableReader) -> SessionSettings:
    d = SessionSettings()
    s = SessionSettings(
        enabled=r.flag("enabled", d.enabled),
        store=r.text("store", d.store, choices=("memory", "redis")),
        cookie_name=r.text("cookie_name", d.cookie_name),
        redis_url=r.text("redis_url", d.redis_url),
        user_id_key=r.text("user_id_key", d.user_id_key),
        user_info_keys=r.str_list("user_info_keys", d.user_info_keys),
        max_age_seconds=r.integer("max_age_seconds", d.max_age_seconds),
        recheck_seconds=r.number("recheck_seconds", d.recheck_seconds),
    )
    if s.recheck_seconds > MAX_SESSION_RECHECK_SECONDS:
        # The bound is how long a logged-out user's socket keeps its identity: keep it short.
        r.error("recheck_seconds", f"must be at most {MAX_SESSION_RECHECK_SECONDS:g}")
    r.finish()
    return s


def read_webhooks(r: TableReader) -> WebhookSettings:
    d = WebhookSettings()
    s = WebhookSettings(
        batch_ms=r.integer("batch_ms", d.batch_ms, maximum=60_000),
        queue_size=r.integer("queue_size", d.queue_size, minimum=1),
        timeout_seconds=r.number("timeout_seconds", d.timeout_seconds, minimum=0.1),
        retry_for_seconds=r.number("retry_for_seconds", d.retry_for_seconds),
        max_backoff_seconds=r.number("max_backoff_seconds", d.max_backoff_seconds, minimum=0.01),
    )
    r.finish()
    return s


def read_rate_limits(r: TableReader) -> RateLimits:
    d = RateLimits()
    s = RateLimits(
        authorize_per_minute_per_user=r.integer(
            "authorize_per_minute_per_user", d.authorize_per_minute_per_user
        ),
        authorize_per_minute_per_address=r.integer(
            "authorize_per_minute_per_address", d.authorize_per_minute_per_address
        ),
        connections_per_minute_per_address=r.integer(
            "connections_per_minute_per_address", d.connections_per_minute_per_address
        ),
        subscribes_per_minute_per_connection=r.integer(
            "subscribes_per_minute_per_connection", d.subscribes_per_minute_per_connection
        ),
        rest_per_second_per_app=r.integer("rest_per_second_per_app", d.rest_per_second_per_app),
    )
    r.finish()
    return s


def read_app(r: TableReader) -> AppSettings:
    app_id = r.text("id", "", required=True)
    key = r.text("key", "", required=True)
    secret = r.text("secret", "", required=True)
    if app_id:
        _safe_name(r, "id", app_id, MAX_APP_ID_CHARS)
    if key:
        _safe_name(r, "key", key, MAX_APP_KEY_CHARS)
    if secret and len(secret) < 16:
        r.error("secret", "must be at least 16 characters")
    master_key = _master_key(r)
    rules = tuple(_rule(rr) for rr in r.array("rules"))
    hooks = tuple(_webhook_target(wr) for wr in r.array("webhooks"))
    settings = AppSettings(
        id=app_id,
        key=key,
        secret=secret,
        name=r.text("name", ""),
        enabled=r.flag("enabled", True),
        client_events=r.flag("client_events", False),
        require_identity=r.flag("require_identity", False),
        authorized_connections_timeout=r.number("authorized_connections_timeout", 0.0),
        encryption_master_key=master_key,
        limits=_limits(r.sub("limits")),
        rules=rules,
        webhooks=hooks,
    )
    r.finish()
    return settings


# App ids appear in Redis key names, REST paths and metric labels; keys in signatures
# ("{key}:{hex}"), URL paths and headers; the prefix starts every Redis name. All three are
# safe names (redis_keys.SAFE_NAME), so none can carry a separator into those places.
MAX_APP_ID_CHARS = 64
MAX_APP_KEY_CHARS = 128
MAX_PREFIX_CHARS = 64


def _safe_name(r: TableReader, key: str, value: str, max_length: int) -> None:
    problem = name_problem(value, max_length)
    if problem is not None:
        r.error(key, problem)


def _master_key(r: TableReader) -> bytes | None:
    """``encryption_master_key``: 32 bytes, base64-encoded; ``None`` when absent or invalid."""
    master = r.text("encryption_master_key", "")
    if not master:
        return None
    try:
        master_key = base64.b64decode(master, validate=True)
    except (binascii.Error, ValueError):
        master_key = b""
    if len(master_key) != 32:
        r.error("encryption_master_key", "must be 32 bytes, base64-encoded")
        return None
    return master_key


def _limits(r: TableReader) -> Limits:
    d = Limits()
    values = {name: r.integer(name, getattr(d, name)) for name in d.__dataclass_fields__}
    r.finish()
    return Limits(**values)


_RULE_PATTERN_RE = re.compile(r"(?:[A-Za-z0-9_\-=@,.;*#]|\{[A-Za-z_][A-Za-z0-9_]*\})+")


def _rule(r: TableReader) -> RuleSettings:
    pattern = r.text("pattern", "", required=True)
    if pattern and _RULE_PATTERN_RE.fullmatch(pattern) is None:
        # A typo such as "private-user-{user_id" would otherwise never match, silently.
        r.error("pattern", "may only contain channel-name characters, * and {placeholder}s")
    rule = RuleSettings(
        pattern=pattern,
        allow=r.flag("allow", True),
        claims=tuple(sorted(r.str_map("claims").items())),
    )
    r.finish()
    return rule


def _webhook_target(r: TableReader) -> WebhookTarget:
    url = r.text("url", "", required=True)
    if url and not url.startswith(("http://", "https://")):
        r.error("url", "must be an http:// or https:// URL")
    types = r.str_list("event_types", WEBHOOK_EVENT_TYPES)
    unknown = [t for t in types if t not in WEBHOOK_EVENT_TYPES]
    if unknown:
        r.error("event_types", f"unknown event types {', '.join(unknown)}")
    target = WebhookTarget(url=url, event_types=types)
    r.finish()
    return target


def read_performance(r: TableReader) -> PerformanceSettings:
    d = PerformanceSettings()
    s = PerformanceSettings(
        gc_freeze=r.flag("gc_freeze", d.gc_freeze),
        direct_writes=r.flag("direct_writes", d.direct_writes),
        jwt_cache_size=r.integer("jwt_cache_size", d.jwt_cache_size, maximum=10_000_000),
        gc_threshold0=r.integer("gc_threshold0", d.gc_threshold0, minimum=1),
        gc_threshold1=r.integer("gc_threshold1", d.gc_threshold1, minimum=1),
        gc_threshold2=r.integer("gc_threshold2", d.gc_threshold2, minimum=1),
        lean_sockets=r.flag("lean_sockets", d.lean_sockets),
        peek_body=r.flag("peek_body", d.peek_body),
    )
    r.finish()
    return s


def read_metrics(r: TableReader) -> MetricsSettings:
    d = MetricsSettings()
    s = MetricsSettings(
        enabled=r.flag("enabled", d.enabled),
        host=r.text("host", d.host),
        port=r.integer("port", d.port, maximum=65535),
        on_main_port=r.flag("on_main_port", d.on_main_port),
    )
    if not s.host:
        r.error("host", "must be a host name or an IP address")
    r.finish()
    return s
