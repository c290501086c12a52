"""The settings: frozen dataclasses, one per TOML table, built once at start (from a file by
``load_settings``, or in code) and shared read-only by everything that runs.

Each field is one setting: its name is the TOML key, its type says how the value is read, its
default is the default, and its metadata (``values.setting``) adds a bound, the choices or a
check where the type is not enough. Adding a setting is one line here (and its line in
config.example.toml, which a test keeps in step); ``sections.read_section`` reads it from then
on, with path-qualified errors and unknown-key reporting.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from roomkey.config.values import (
    MAX_APP_ID_CHARS,
    MAX_APP_KEY_CHARS,
    MAX_PREFIX_CHARS,
    WEBHOOK_EVENT_TYPES,
    at_least_chars,
    channel_pattern,
    host_name,
    http_url,
    identity_order,
    ip_networks,
    jwt_algorithms,
    read_claims,
    read_master_key,
    read_session_key,
    read_session_secrets,
    redis_addresses,
    redis_url,
    safe_name,
    session_recheck,
    setting,
    url_path,
    web_directory,
    webhook_event_types,
)

__all__ = [
    "SESSION_KINDS",
    "WEBHOOK_EVENT_TYPES",
    "AppIdentitySettings",
    "AppSettings",
    "HookSettings",
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
]


@dataclass(frozen=True)
class Limits:
    """Per-app limits (``[apps.limits]``). Defaults are Pusher's. 0 means unlimited where
    noted."""

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
    # User ids a signed-in user's watchlist may hold (Pusher's limit); 0: unlimited.
    max_watchlist_users: int = 100


@dataclass(frozen=True)
class RateLimits:
    """Request rates per window (``[rate_limits]``; 0 disables a limit)."""

    authorize_per_minute_per_user: int = 600
    authorize_per_minute_per_address: int = 1200
    connections_per_minute_per_address: int = 600
    subscribes_per_minute_per_connection: int = 600
    rest_per_second_per_app: int = 0


@dataclass(frozen=True)
class RuleSettings:
    """One channel rule (``[[apps.rules]]``): ``pattern`` with ``*`` and ``{placeholders}``;
    ``claims`` that the identity must carry (string equality); ``allow`` what happens when it
    matches."""

    pattern: str = field(metadata=setting(check=channel_pattern))
    allow: bool = True
    claims: tuple[tuple[str, str], ...] = field(default=(), metadata=setting(read=read_claims))


@dataclass(frozen=True)
class WebhookTarget:
    """One webhook of an app (``[[apps.webhooks]]``): the URL roomkey POSTs batches of events
    to, and which event types it receives."""

    url: str = field(metadata=setting(check=http_url))
    event_types: tuple[str, ...] = field(
        default=WEBHOOK_EVENT_TYPES, metadata=setting(check=webhook_event_types)
    )


@dataclass(frozen=True)
class AppSettings:
    """One application (``[[apps]]``): the credentials its servers sign with, what its
    clients may do, its limits, channel rules and webhooks. ``id`` and ``key`` are safe names
    (docs/config.md); ``secret`` signs everything and never leaves the server."""

    id: str = field(metadata=setting(check=safe_name(MAX_APP_ID_CHARS)))
    key: str = field(metadata=setting(check=safe_name(MAX_APP_KEY_CHARS)))
    secret: str = field(metadata=setting(check=at_least_chars(16)))
    name: str = ""
    enabled: bool = True
    client_events: bool = False
    require_identity: bool = False
    authorized_connections_timeout: float = 0.0  # seconds; 0: off
    # Cache channels keep their last published event this long (seconds; Pusher: 30 minutes).
    cache_ttl_seconds: float = field(default=1800.0, metadata=setting(minimum=1.0))
    # Subscribers of non-presence channels hear the channel's subscription count when it
    # changes, at most once per ``subscription_count_interval_seconds`` per channel.
    subscription_count: bool = False
    subscription_count_interval_seconds: float = field(default=1.0, metadata=setting(minimum=0.01))
    # 32 bytes for private-encrypted- channels; base64 in the file.
    encryption_master_key: bytes | None = field(
        default=None, metadata=setting(read=read_master_key)
    )
    limits: Limits = field(default_factory=Limits)
    rules: tuple[RuleSettings, ...] = ()
    webhooks: tuple[WebhookTarget, ...] = ()


@dataclass(frozen=True)
class JwtSettings:
    """Bearer-token identity (``[jwt]``). Off unless a secret or a public key is configured.
    In the file, ``public_key_file`` names a PEM file read into ``public_key``."""

    algorithms: tuple[str, ...] = field(default=("HS256",), metadata=setting(check=jwt_algorithms))
    secret: str = field(default="", metadata=setting(check=at_least_chars(32)))
    public_key: str = ""  # PEM; or public_key_file, as any key
    audience: str = ""
    issuer: str = ""
    user_id_claim: str = "sub"
    user_info_claims: tuple[str, ...] = ("name",)
    leeway_seconds: float = 0.0

    @property
    def enabled(self) -> bool:
        """True when tokens can be verified (a secret or a public key is set)."""
        return bool(self.secret or self.public_key)


SESSION_KINDS = ("memory", "aiohttp_redis", "aiohttp_encrypted", "aiohttp_nacl", "express")
"""Where a session cookie's session is read (``[session] kind``; docs/identity.md):

- ``memory``: roomkey's own store in this process (the demo's login);
- ``aiohttp_redis``: aiohttp-session's ``RedisStorage`` layout in Redis;
- ``aiohttp_encrypted``: aiohttp-session's ``EncryptedCookieStorage`` (Fernet, in the cookie);
- ``aiohttp_nacl``: aiohttp-session's ``NaClCookieStorage`` (SecretBox, in the cookie);
- ``express``: express-session's signed cookie, the session in Redis as connect-redis keeps it.
"""

# The kinds that read sessions from Redis (session.redis_url, else the [redis] topology).
REDIS_SESSION_KINDS = ("aiohttp_redis", "express")


@dataclass(frozen=True)
class SessionSettings:
    """Session-cookie identity (``[session]``): which cookie, where its session is read
    (``kind``), and where the user id and user info are in the session.

    ``kind`` empty (the default) keeps the older ``store`` key in charge: ``"memory"`` is the
    ``memory`` kind, ``"redis"`` the ``aiohttp_redis`` kind (``resolved_kind``).
    ``user_id_key`` and ``user_info_keys`` are keys of the session, or dotted paths into it
    (``passport.user``); a key that exists as written wins over a path.
    ``secret_key`` (or ``secret_key_file``): the 32-byte key of the aiohttp cookie storages,
    base64 (standard or URL-safe: a ``Fernet.generate_key()`` string is one).
    ``secrets`` (or ``secrets_file``, one per line): express-session's ``secret``, the current
    one first, then the rotated ones that still verify cookies. ``prefix``: connect-redis's key
    prefix. Keys and secrets never appear in a repr."""

    enabled: bool = True
    kind: str = field(default="", metadata=setting(choices=("", *SESSION_KINDS)))
    store: str = field(default="memory", metadata=setting(choices=("memory", "redis")))
    cookie_name: str = "AIOHTTP_SESSION"
    redis_url: str = field(default="", metadata=setting(check=redis_url))  # empty: the [redis] url
    user_id_key: str = "user_id"
    user_info_keys: tuple[str, ...] = ("name",)
    max_age_seconds: int = 0  # 0: no expiry beyond what the store keeps
    # A socket identified by a session re-reads it when its last read is this old (seconds):
    # a deleted session (logout) stops authorizing the socket within this bound. 0: always.
    recheck_seconds: float = field(default=5.0, metadata=setting(check=session_recheck))
    secret_key: bytes | None = field(
        default=None, repr=False, metadata=setting(read=read_session_key)
    )
    secrets: tuple[str, ...] = field(
        default=(), repr=False, metadata=setting(read=read_session_secrets)
    )
    prefix: str = "sess:"

    @property
    def resolved_kind(self) -> str:
        """The kind in use: ``kind``, else the one the older ``store`` key names."""
        if self.kind:
            return self.kind
        return "aiohttp_redis" if self.store == "redis" else "memory"


@dataclass(frozen=True)
class AppIdentitySettings:
    """Asking the app who the user is (``[identity.app]``): roomkey sends the request's
    ``Cookie`` and ``Authorization`` headers (only those) to ``url`` and takes
    ``{"user_id", "user_info"}`` from a 200; 401 or 403 means no identity. Off without a url.

    ``timeout_seconds`` bounds each call (and its wait for one of ``max_concurrency``
    slots); ``cache_seconds`` keeps answers (200, 401, 403; never failures) keyed by a hash
    of the credentials, at most ``cache_size`` of them (0: no cache)."""

    url: str = field(default="", metadata=setting(check=http_url))
    timeout_seconds: float = field(default=2.0, metadata=setting(minimum=0.05))
    cache_seconds: float = 5.0
    cache_size: int = field(default=10_000, metadata=setting(maximum=10_000_000))
    max_concurrency: int = field(default=32, metadata=setting(minimum=1, maximum=10_000))
    max_answer_bytes: int = field(default=16 * 1024, metadata=setting(minimum=64))

    @property
    def enabled(self) -> bool:
        return bool(self.url)


IDENTITY_SOURCES = ("bearer", "session", "app")
"""The identity sources in their default order (``[identity] order``)."""


@dataclass(frozen=True)
class IdentitySettings:
    """Which identity sources are tried, in which order (``[identity]``). ``order`` empty:
    every configured source in ``IDENTITY_SOURCES`` order (bearer token, session cookie,
    the app). The first source whose credential the request carries decides (docs/identity.md)."""

    order: tuple[str, ...] = field(default=(), metadata=setting(check=identity_order))
    app: AppIdentitySettings = field(default_factory=AppIdentitySettings)


@dataclass(frozen=True)
class RedisSettings:
    """Shared state and fan-out between nodes (``[redis]``). One topology at most: ``url``
    (one Redis), ``sentinels`` with ``sentinel_master`` (Redis Sentinel: the master they
    name, followed on failover) or ``cluster_nodes`` (Redis Cluster, seed nodes); none of
    them: memory, one node. ``username``, ``password``, ``tls`` and ``tls_ca_file`` reach the
    data nodes of Sentinel and Cluster (a ``url`` carries its own). ``sections`` checks the
    combinations and that ``node_timeout_seconds`` exceeds ``heartbeat_seconds``."""

    url: str = field(default="", metadata=setting(check=redis_url))
    sentinels: tuple[str, ...] = field(default=(), metadata=setting(check=redis_addresses))
    sentinel_master: str = ""
    sentinel_username: str = ""
    sentinel_password: str = ""
    cluster_nodes: tuple[str, ...] = field(default=(), metadata=setting(check=redis_addresses))
    username: str = ""
    password: str = ""
    tls: bool = False
    tls_ca_file: str = ""
    prefix: str = field(default="roomkey", metadata=setting(check=safe_name(MAX_PREFIX_CHARS)))
    heartbeat_seconds: float = field(default=2.0, metadata=setting(minimum=0.1))
    node_timeout_seconds: float = field(default=6.0, metadata=setting(minimum=0.3))
    operation_timeout_seconds: float = field(default=2.0, metadata=setting(minimum=0.05))

    @property
    def mode(self) -> str:
        """``"single"``, ``"sentinel"``, ``"cluster"``, or ``""`` (no Redis: memory)."""
        if self.cluster_nodes:
            return "cluster"
        if self.sentinels:
            return "sentinel"
        return "single" if self.url else ""

    @property
    def enabled(self) -> bool:
        """True when a Redis topology is configured (the nodes share state through it)."""
        return bool(self.mode)


@dataclass(frozen=True)
class WebhookSettings:
    """How webhooks are sent (``[webhooks]``): batching, the bounded queue (per app in the
    store), timeouts and retries, how long ``member_removed`` / ``channel_vacated`` wait for
    a re-join (0: not at all), and how long a node's claim on events lasts unrenewed."""

    batch_ms: int = field(default=250, metadata=setting(maximum=60_000))
    queue_size: int = field(default=10_000, metadata=setting(minimum=1))
    timeout_seconds: float = field(default=5.0, metadata=setting(minimum=0.1))
    retry_for_seconds: float = 300.0
    max_backoff_seconds: float = field(default=10.0, metadata=setting(minimum=0.01))
    leave_delay_seconds: float = 3.0
    claim_seconds: float = field(default=30.0, metadata=setting(minimum=0.3))


@dataclass(frozen=True)
class HookSettings:
    """What in-process hooks (``Roomkey.on``, docs/embedding.md) may cost (``[hooks]``): the
    events waiting for their hooks (a full queue drops new events and counts them), the hook
    calls running at once, and how long one call may run before it is cancelled."""

    queue_size: int = field(default=10_000, metadata=setting(minimum=1))
    concurrency: int = field(default=16, metadata=setting(minimum=1, maximum=10_000))
    timeout_seconds: float = field(default=5.0, metadata=setting(minimum=0.001))


@dataclass(frozen=True)
class ServerSettings:
    """The client listener and the process (``[server]``): address, workers, mode, logging,
    the authorize paths, origins and proxies, and the timeouts of clients and requests."""

    host: str = "127.0.0.1"
    port: int = field(default=6001, metadata=setting(maximum=65535))
    workers: int = field(default=1, metadata=setting(minimum=1, maximum=64))
    # "development" serves the demo at /
    mode: str = field(default="production", metadata=setting(choices=("production", "development")))
    # roomkey.js and the demo; empty: web/ of the source checkout, if any
    web_root: str = field(default="", metadata=setting(check=web_directory))
    log_format: str = field(default="text", metadata=setting(choices=("text", "json")))
    log_level: str = field(
        default="info", metadata=setting(choices=("debug", "info", "warning", "error"))
    )
    auth_path: str = field(default="/pusher/auth", metadata=setting(check=url_path))
    user_auth_path: str = field(default="/pusher/user-auth", metadata=setting(check=url_path))
    allowed_origins: tuple[str, ...] = ()  # empty: same origin only
    trusted_proxies: tuple[str, ...] = field(default=(), metadata=setting(check=ip_networks))
    activity_timeout: int = field(default=120, metadata=setting(minimum=1, maximum=3600))
    shutdown_timeout_seconds: float = 10.0
    # Authorize endpoints and REST API: the whole body must arrive within this many seconds of
    # roomkey starting to read it, else 408 and the connection is closed (slow-body clients).
    request_body_timeout_seconds: float = field(default=5.0, metadata=setting(minimum=0.05))
    compression: bool = False
    # Pusher sockets: wait for a pong, then 4201
    pusher_pong_timeout_seconds: float = field(default=30.0, metadata=setting(minimum=0.05))
    # Engine.IO heartbeat: a Socket.IO connection that does not answer a ping sent every
    # ping_interval_seconds within ping_timeout_seconds is closed as dead.
    ping_interval_seconds: float = field(default=25.0, metadata=setting(minimum=1.0))
    ping_timeout_seconds: float = field(default=20.0, metadata=setting(minimum=0.1))

    @property
    def development(self) -> bool:
        """True in development mode (the demo, loopback only)."""
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
    host: str = field(default="127.0.0.1", metadata=setting(check=host_name))
    port: int = field(default=9601, metadata=setting(maximum=65535))
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
    ``lean_websockets``: after a WebSocket upgrade (both transports, without
    ``server.compression``), roomkey's own WebSocket takes the connection over from aiohttp
    (``transports/lean_websocket.py``), so that the upgrade request, aiohttp's handler tasks,
    parser and WebSocket objects are not kept for the connection's life; same frames on the
    wire. False: aiohttp's ``WebSocketResponse`` serves every WebSocket.
    ``peek_body``: a small request body that has all arrived (the usual authorize or REST
    call) is looked at where aiohttp's stream reader holds it instead of being taken out
    through the reader, which wakes aiohttp's parser for nothing; anything else is read as
    usual (``http/context.py``).
    ``relay_frames``: with Redis, a node publishes each message with its wire forms (the
    Socket.IO packet and the Pusher frame) already built, so that the other nodes relay them
    as they are instead of decoding the message and encoding it again (same bytes to the
    clients, same order). Every node reads both forms of message whatever this says; a node
    of a version before this setting drops relayed messages as malformed, so set it false
    on every node while such a node is still in the cluster.
    """

    gc_freeze: bool = True
    direct_writes: bool = True
    jwt_cache_size: int = field(default=10_000, metadata=setting(maximum=10_000_000))
    gc_threshold0: int = field(default=50_000, metadata=setting(minimum=1))
    gc_threshold1: int = field(default=20, metadata=setting(minimum=1))
    gc_threshold2: int = field(default=100, metadata=setting(minimum=1))
    lean_sockets: bool = True
    lean_websockets: bool = True
    peek_body: bool = True
    relay_frames: bool = True


@dataclass(frozen=True)
class Settings:
    """A whole configuration: one field per TOML table, ``apps`` one per ``[[apps]]``.
    Built by ``load_settings``/``parse_settings`` (validated) or in code (then
    ``deployment_problems`` tells what would be unsafe to serve)."""

    server: ServerSettings = field(default_factory=ServerSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    jwt: JwtSettings = field(default_factory=JwtSettings)
    session: SessionSettings = field(default_factory=SessionSettings)
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    hooks: HookSettings = field(default_factory=HookSettings)
    rate_limits: RateLimits = field(default_factory=RateLimits)
    apps: tuple[AppSettings, ...] = ()
    performance: PerformanceSettings = field(default_factory=PerformanceSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
