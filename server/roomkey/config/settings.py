"""Configuration: TOML in, frozen dataclasses out, read once at start.

No other module reads TOML or the environment. ``load_settings(path)`` reads a file;
``development_settings()`` is what ``roomkey serve`` runs with when no file is given.
Every error names its path (``apps[0].secret: must be a non-empty string``) and all errors are
reported together (``ConfigError.errors``). config.example.toml documents every key.

This module holds the settings dataclasses and the public functions; the reader of each TOML
section is in ``config_sections``, the checks on a whole configuration (published secrets in
production, loopback in development, metrics ports) in ``config_checks``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from roomkey.config.reader import ConfigError, TableReader

__all__ = [
    "AppSettings",
    "ConfigError",
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
    "deployment_problems",
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
DEV_ENCRYPTION_MASTER_KEY = bytes(range(32))


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
    # A socket identified by a session re-reads it when its last read is this old (seconds):
    # a deleted session (logout) stops authorizing the socket within this bound. 0: always.
    recheck_seconds: float = 5.0


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
    # Authorize endpoints and REST API: the whole body must arrive within this many seconds of
    # roomkey starting to read it, else 408 and the connection is closed (slow-body clients).
    request_body_timeout_seconds: float = 5.0
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
class MetricsSettings:
    """``GET /metrics`` (Prometheus text) on a listener of its own, apart from the client port
    (docs/operations.md), which also answers ``/healthz`` and ``/readyz``.

    ``port`` 0: a free port picked at start (logged). With ``server.workers`` above 1 each
    worker has its own registry and listener: worker ``i`` (from 0) listens on ``port + i``.
    ``on_main_port``: also serve ``/metrics`` on the client port, as before the listener
    existed; anyone who reaches that port can then read app ids, refusal reasons and traffic,
    so a warning is logged at start.
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 9601
    on_main_port: bool = False


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
    ``lean_sockets``: Socket.IO connections use roomkey's lighter Engine.IO socket (a
    direct WebSocket handshaken in its own handler, ``_patches/engineio_direct.py``; the
    reader in the connection's own task, a writer task only while packets are queued, the
    ping a timer) instead of python-engineio's request handling and socket (six tasks per
    connection); same packets on the wire.
    ``peek_body``: a small request body that has all arrived (the usual authorize or REST
    call) is looked at where aiohttp's stream reader holds it instead of being taken out
    through the reader, which wakes aiohttp's parser for nothing; anything else is read as
    usual (``http/context.py``).
    """

    gc_freeze: bool = True
    direct_writes: bool = True
    jwt_cache_size: int = 10_000
    gc_threshold0: int = 50_000
    gc_threshold1: int = 20
    gc_threshold2: int = 100
    lean_sockets: bool = True
    peek_body: bool = True


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
    metrics: MetricsSettings = field(default_factory=MetricsSettings)


def development_settings(port: int = 6001, host: str = "127.0.0.1") -> Settings:
    """The preset of ``roomkey serve`` without a file: one development app, memory backends,
    the demo at ``/``, a JWT secret the demo signs its tokens with, the metrics listener on a
    free loopback port (so that the preset never fails for a busy port). Every secret in it is
    public, so production mode refuses them (``config_checks``)."""
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
    """Validate parsed TOML (``tomllib.loads`` output). Raises ``ConfigError`` listing every
    problem, each with its path."""
    # config_sections builds the dataclasses above, so it imports this module: importing it
    # when called keeps the import graph free of cycles.
    from roomkey.config import sections as read

    errors: list[str] = []
    top = TableReader("", data, errors)
    server = read.read_server(top.sub("server"))
    redis = read.read_redis(top.sub("redis"))
    jwt = read.read_jwt(top.sub("jwt"))
    session = read.read_session(top.sub("session"))
    webhooks = read.read_webhooks(top.sub("webhooks"))
    rate_limits = read.read_rate_limits(top.sub("rate_limits"))
    apps = tuple(read.read_app(r) for r in top.array("apps"))
    performance = read.read_performance(top.sub("performance"))
    metrics = read.read_metrics(top.sub("metrics"))
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
    settings = Settings(
        server,
        redis,
        jwt,
        session,
        webhooks,
        rate_limits,
        apps,
        performance=performance,
        metrics=metrics,
    )
    errors.extend(deployment_problems(settings))
    if errors:
        raise ConfigError(errors)
    return settings


def deployment_problems(settings: Settings) -> list[str]:
    """What makes ``settings`` unsafe or impossible to serve, each with its path: a secret
    that roomkey publishes (production mode), a listener off loopback (development mode),
    metrics ports that collide. ``parse_settings`` reports these with every other error;
    ``roomkey serve`` asks again after its command-line overrides. See ``config_checks``."""
    from roomkey import config_checks

    return config_checks.deployment_problems(settings)


def _check_unique(apps: tuple[AppSettings, ...], errors: list[str]) -> None:
    for attr in ("id", "key"):
        seen: dict[str, int] = {}
        for i, app in enumerate(apps):
            value = getattr(app, attr)
            if value and value in seen:
                errors.append(f"apps[{i}].{attr}: duplicates apps[{seen[value]}].{attr}")
            seen.setdefault(value, i)
