"""Configuration: TOML in, frozen dataclasses out, read once at start.

No other module reads TOML or the environment. ``load_settings(path)`` reads a file;
``development_settings()`` is what ``roomkey serve`` runs with when no file is given.
Every error names its path (``apps[0].secret: must be a non-empty string``) and all errors are
reported together (``ConfigError.errors``). config.example.toml documents every key.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from roomkey.config_reader import ConfigError, TableReader

__all__ = [
    "AppSettings",
    "ConfigError",
    "JwtSettings",
    "Limits",
    "PerformanceSettings",
    "RateLimits",
    "RedisSettings",
    "RuleSettings",
    "ServerSettings",
    "SessionSettings",
    "Settings",
    "WebhookSettings",
    "WebhookTarget",
    "development_settings",
    "load_settings",
    "parse_settings",
]

WEBHOOK_EVENT_TYPES = (
    "channel_occupied",
    "channel_vacated",
    "member_added",
    "member_removed",
    "client_event",
)
DEV_APP_ID = "1"
DEV_APP_KEY = "roomkey-dev-key"
DEV_APP_SECRET = "roomkey-dev-secret"
DEV_JWT_SECRET = "roomkey-dev-jwt-secret-change-me-0123456789"


@dataclass(frozen=True)
class Limits:
    """Per-app limits. Defaults are Pusher's. 0 means unlimited where noted."""

    max_connections: int = 0  # 0: unlimited
    max_event_data_bytes: int = 10 * 1024
    max_channels_per_trigger: int = 100
    max_batch_events: int = 10
    max_channels_per_connection: int = 100
    max_presence_members: int = 100
    max_user_info_bytes: int = 1024
    max_user_id_chars: int = 128
    client_events_per_second: int = 10
    max_authorize_body_bytes: int = 8 * 1024
    max_socketio_message_bytes: int = 64 * 1024
    max_pusher_frame_bytes: int = 64 * 1024
    max_outbound_buffer_bytes: int = 1024 * 1024


@dataclass(frozen=True)
class RateLimits:
    """Request rates per window (0 disables a limit)."""

    authorize_per_minute_per_user: int = 600
    authorize_per_minute_per_address: int = 1200
    connections_per_minute_per_address: int = 600
    subscribes_per_minute_per_connection: int = 600
    rest_per_second_per_app: int = 0


@dataclass(frozen=True)
class RuleSettings:
    """One channel rule: ``pattern`` with ``*`` and ``{placeholders}``; ``claims`` that the
    identity must carry (string equality); ``allow`` what happens when it matches."""

    pattern: str
    allow: bool = True
    claims: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    event_types: tuple[str, ...] = WEBHOOK_EVENT_TYPES


@dataclass(frozen=True)
class AppSettings:
    id: str
    key: str
    secret: str
    name: str = ""
    enabled: bool = True
    client_events: bool = False
    require_identity: bool = False
    authorized_connections_timeout: float = 0.0  # seconds; 0: off
    encryption_master_key: bytes | None = None
    limits: Limits = field(default_factory=Limits)
    rules: tuple[RuleSettings, ...] = ()
    webhooks: tuple[WebhookTarget, ...] = ()


@dataclass(frozen=True)
class JwtSettings:
    """Bearer-token identity. Off unless a secret or a public key is configured."""

    algorithms: tuple[str, ...] = ("HS256",)
    secret: str = ""
    public_key: str = ""
    audience: str = ""
    issuer: str = ""
    user_id_claim: str = "sub"
    user_info_claims: tuple[str, ...] = ("name",)
    leeway_seconds: float = 0.0

    @property
    def enabled(self) -> bool:
        return bool(self.secret or self.public_key)


@dataclass(frozen=True)
class SessionSettings:
    """Session-cookie identity in aiohttp-session's storage format."""

    enabled: bool = True
    store: str = "memory"  # "memory" or "redis"
    cookie_name: str = "AIOHTTP_SESSION"
    redis_url: str = ""  # empty: the [redis] url
    user_id_key: str = "user_id"
    user_info_keys: tuple[str, ...] = ("name",)
    max_age_seconds: int = 0  # 0: no expiry beyond what the store keeps


@dataclass(frozen=True)
class RedisSettings:
    url: str = ""  # empty: memory backends, one node
    prefix: str = "roomkey"
    heartbeat_seconds: float = 2.0
    node_timeout_seconds: float = 6.0
    operation_timeout_seconds: float = 2.0


@dataclass(frozen=True)
class WebhookSettings:
    batch_ms: int = 250
    queue_size: int = 10_000
    timeout_seconds: float = 5.0
    retry_for_seconds: float = 60.0
    max_backoff_seconds: float = 10.0


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 6001
    workers: int = 1
    mode: str = "production"  # "development" serves the demo at /
    web_root: str = ""  # roomkey.js and the demo; empty: web/ of the source checkout, if any
    log_format: str = "text"  # "text" or "json"
    log_level: str = "info"
    auth_path: str = "/pusher/auth"
    user_auth_path: str = "/pusher/user-auth"
    allowed_origins: tuple[str, ...] = ()  # empty: same origin only
    trusted_proxies: tuple[str, ...] = ()
    activity_timeout: int = 120
    shutdown_timeout_seconds: float = 10.0
    compression: bool = False
    pusher_pong_timeout_seconds: float = 30.0  # Pusher sockets: wait for a pong, then 4201
    # Engine.IO heartbeat: a Socket.IO connection that does not answer a ping sent every
    # ping_interval_seconds within ping_timeout_seconds is closed as dead.
    ping_interval_seconds: float = 25.0
    ping_timeout_seconds: float = 20.0

    @property
    def development(self) -> bool:
        return self.mode == "development"


@dataclass(frozen=True)
class PerformanceSettings:
    """Process tuning for throughput and tail latency (docs/benchmarks.md).

    ``gc_freeze``: after start-up, move every object alive then into the garbage collector's
    permanent generation (``gc.freeze()``), so full collections no longer walk the start-up
    heap. ``gc_threshold0..2``: ``gc.set_threshold`` values; larger ones mean fewer
    collections, each one longer (Python's own defaults are 700, 10, 10).
    ``direct_writes``: Socket.IO deliveries are framed once per message and written straight
    to each idle socket's transport instead of waking its Engine.IO writer task (same bytes,
    same order); false queues every delivery on the Engine.IO socket.
    ``jwt_cache_size``: verified bearer tokens kept (LRU) so that repeated authorize calls
    with one token skip the signature check until the token's ``exp``; 0 turns it off.
    ``lean_sockets``: Socket.IO connections use roomkey's lighter Engine.IO socket (one
    writer task, the reader in the connection's own task, the ping a timer) instead of
    python-engineio's (six tasks per connection); same packets on the wire.
    """

    gc_freeze: bool = True
    direct_writes: bool = True
    jwt_cache_size: int = 10_000
    gc_threshold0: int = 50_000
    gc_threshold1: int = 20
    gc_threshold2: int = 100
    lean_sockets: bool = True


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    jwt: JwtSettings = field(default_factory=JwtSettings)
    session: SessionSettings = field(default_factory=SessionSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    rate_limits: RateLimits = field(default_factory=RateLimits)
    apps: tuple[AppSettings, ...] = ()
    performance: PerformanceSettings = field(default_factory=PerformanceSettings)


def development_settings(port: int = 6001, host: str = "127.0.0.1") -> Settings:
    """The preset of ``roomkey serve`` without a file: one development app, memory backends,
    the demo at ``/``, a JWT secret the demo signs its tokens with."""
    app = AppSettings(
        id=DEV_APP_ID,
        key=DEV_APP_KEY,
        secret=DEV_APP_SECRET,
        name="development",
        client_events=True,
        encryption_master_key=bytes(range(32)),
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
    )


def load_settings(path: str | Path) -> Settings:
    """Read and validate a TOML file. Raises ``ConfigError`` listing every problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror})"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML ({exc})"]) from None
    return parse_settings(data)


def parse_settings(data: object) -> Settings:
    errors: list[str] = []
    top = TableReader("", data, errors)
    server = _server(top.sub("server"))
    redis = _redis(top.sub("redis"))
    jwt = _jwt(top.sub("jwt"))
    session = _session(top.sub("session"), redis)
    webhooks = _webhooks(top.sub("webhooks"))
    rate_limits = _rate_limits(top.sub("rate_limits"))
    apps = tuple(_app(r) for r in top.array("apps"))
    performance = _performance(top.sub("performance"))
    top.finish()
    if not apps:
        errors.append("apps: at least one [[apps]] table is required")
    _check_unique(apps, errors)
    if server.workers > 1 and not redis.url:
        errors.append(
            "server.workers: more than one worker needs redis.url (workers share state through Redis)"
        )
    if session.store == "redis" and not (session.redis_url or redis.url):
        errors.append('session.store: "redis" needs session.redis_url or redis.url')
    if errors:
        raise ConfigError(errors)
    return Settings(
        server, redis, jwt, session, webhooks, rate_limits, apps, performance=performance
    )


def _check_unique(apps: tuple[AppSettings, ...], errors: list[str]) -> None:
    for attr in ("id", "key"):
        seen: dict[str, int] = {}
        for i, app in enumerate(apps):
            value = getattr(app, attr)
            if value and value in seen:
                errors.append(f"apps[{i}].{attr}: duplicates apps[{seen[value]}].{attr}")
            seen.setdefault(value, i)


def _server(r: TableReader) -> ServerSettings:
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


def _redis(r: TableReader) -> RedisSettings:
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


def _jwt(r: TableReader) -> JwtSettings:
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


def _session(r: TableReader, redis: RedisSettings) -> SessionSettings:
    d = SessionSettings()
    s = SessionSettings(
        enabled=r.flag("enabled", d.enabled),
        store=r.text("store", d.store, choices=("memory", "redis")),
        cookie_name=r.text("cookie_name", d.cookie_name),
        redis_url=r.text("redis_url", d.redis_url),
        user_id_key=r.text("user_id_key", d.user_id_key),
        user_info_keys=r.str_list("user_info_keys", d.user_info_keys),
        max_age_seconds=r.integer("max_age_seconds", d.max_age_seconds),
    )
    r.finish()
    return s


def _webhooks(r: TableReader) -> WebhookSettings:
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


def _rate_limits(r: TableReader) -> RateLimits:
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


def _limits(r: TableReader) -> Limits:
    d = Limits()
    values = {name: r.integer(name, getattr(d, name)) for name in d.__dataclass_fields__}
    r.finish()
    return Limits(**values)


_RULE_PATTERN_RE = re.compile(r"(?:[A-Za-z0-9_\-=@,.;*#]|\{[A-Za-z_][A-Za-z0-9_]*\})+")


def _app(r: TableReader) -> AppSettings:
    app_id = r.text("id", "", required=True)
    key = r.text("key", "", required=True)
    secret = r.text("secret", "", required=True)
    if key and ":" in key:
        r.error("key", "must not contain ':'")
    if secret and len(secret) < 16:
        r.error("secret", "must be at least 16 characters")
    master = r.text("encryption_master_key", "")
    master_key: bytes | None = None
    if master:
        try:
            master_key = base64.b64decode(master, validate=True)
        except (binascii.Error, ValueError):
            master_key = None
        if master_key is None or len(master_key) != 32:
            r.error("encryption_master_key", "must be 32 bytes, base64-encoded")
            master_key = None
    rules = []
    for rr in r.array("rules"):
        pattern = rr.text("pattern", "", required=True)
        if pattern and _RULE_PATTERN_RE.fullmatch(pattern) is None:
            # A typo such as "private-user-{user_id" would otherwise never match, silently.
            rr.error(
                "pattern",
                "may only contain channel-name characters, * and {placeholder}s",
            )
        rules.append(
            RuleSettings(
                pattern=pattern,
                allow=rr.flag("allow", True),
                claims=tuple(sorted(rr.str_map("claims").items())),
            )
        )
        rr.finish()
    hooks = []
    for wr in r.array("webhooks"):
        url = wr.text("url", "", required=True)
        if url and not url.startswith(("http://", "https://")):
            wr.error("url", "must be an http:// or https:// URL")
        types = wr.str_list("event_types", WEBHOOK_EVENT_TYPES)
        unknown = [t for t in types if t not in WEBHOOK_EVENT_TYPES]
        if unknown:
            wr.error("event_types", f"unknown event types {', '.join(unknown)}")
        hooks.append(WebhookTarget(url=url, event_types=types))
        wr.finish()
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
        rules=tuple(rules),
        webhooks=tuple(hooks),
    )
    r.finish()
    return settings


def _performance(r: TableReader) -> PerformanceSettings:
    d = PerformanceSettings()
    s = PerformanceSettings(
        gc_freeze=r.flag("gc_freeze", d.gc_freeze),
        direct_writes=r.flag("direct_writes", d.direct_writes),
        jwt_cache_size=r.integer("jwt_cache_size", d.jwt_cache_size, maximum=10_000_000),
        gc_threshold0=r.integer("gc_threshold0", d.gc_threshold0, minimum=1),
        gc_threshold1=r.integer("gc_threshold1", d.gc_threshold1, minimum=1),
        gc_threshold2=r.integer("gc_threshold2", d.gc_threshold2, minimum=1),
        lean_sockets=r.flag("lean_sockets", d.lean_sockets),
    )
    r.finish()
    return s
