"""The aiohttp application: ``create_app(settings)``, or ``setup(app, settings)`` to mount
roomkey inside an existing aiohttp application.

Everything with a lifetime (the session store, broker, presence store, node registry,
webhooks, rate limiter, event-loop probe, connections, the metrics listener) is opened and
closed in a ``cleanup_ctx`` of its own; handlers reach it through the ``RUNTIME`` app key.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace

from aiohttp import web

from roomkey import _patches, gc_tuning, logs
from roomkey.broker.base import Broker
from roomkey.broker.factory import create_broker
from roomkey.cache.base import ChannelCache
from roomkey.cache.factory import create_channel_cache
from roomkey.cluster.base import NodeRegistry
from roomkey.cluster.factory import create_node_registry
from roomkey.config import Settings
from roomkey.core.apps import AppRegistry
from roomkey.core.errors import ServiceUnavailable
from roomkey.core.policy import (
    ChannelPolicy,
    FirstCallPolicy,
    PolicyFunction,
    RulePolicy,
    policy_for,
)
from roomkey.handle import HANDLE, Roomkey
from roomkey.hook_relay import HookRelay
from roomkey.hooks import Hooks
from roomkey.http import authorize, bad_requests, demo, rest, static
from roomkey.http import operations as operations_routes
from roomkey.http.mounting import RouteGuard, normalized_prefix
from roomkey.hub.authorization_deadlines import AuthorizationDeadlines
from roomkey.hub.connection import Connection
from roomkey.hub.hub import Hub
from roomkey.identity.base import SessionStore
from roomkey.identity.factory import create_identity
from roomkey.identity.origins import OriginPolicy
from roomkey.identity.proxies import ClientAddresses
from roomkey.metrics import Metrics
from roomkey.presence.base import PresenceStore
from roomkey.presence.factory import create_presence_store
from roomkey.ratelimit.factory import create_rate_limiter
from roomkey.ratelimit.throttle import Throttle
from roomkey.runtime import RUNTIME, Runtime
from roomkey.tasks import cancel_and_wait
from roomkey.transports.pusher.server import PusherTransport
from roomkey.transports.relay import wire_forms
from roomkey.transports.socketio.server import SocketIOTransport
from roomkey.webhooks import WebhookDispatcher, create_webhook_store

# A cleanup context: opens a resource up to its ``yield``, closes it after.
Context = Callable[[web.Application], AsyncIterator[None]]

SOCKETIO = web.AppKey("roomkey.socketio", SocketIOTransport)
PUSHER = web.AppKey("roomkey.pusher", PusherTransport)


def setup(
    app: web.Application,
    settings: Settings,
    *,
    policy: PolicyFunction | None = None,
    operations: bool = False,
    prefix: str = "",
) -> Roomkey:
    """Install roomkey's routes and lifetime into ``app`` (before it starts) and return the
    handle the application publishes, reads and registers hooks with (``Roomkey``; request
    handlers find it again with ``Roomkey.of(request)``).

    ``prefix`` (``"/realtime"``): every roomkey route goes under it: Socket.IO at
    ``{prefix}/socket.io/``, the Pusher socket at ``{prefix}/app/{key}``, the authorize
    endpoints, the REST API, the client files (``roomkey.js``), and the operations routes
    when asked for (the development demo is mounted only without a prefix). A route of
    ``app`` that would overlap one of roomkey's raises ``RouteConflict`` naming both, here
    for routes added before ``setup`` and when the application starts for routes added after.

    ``policy`` replaces the config's channel rules with ``(app, identity, channel) -> bool``,
    or an ``async def`` (or any function returning an awaitable of bool): which of the two
    is decided once (``core.policy.policy_for``).

    Raises ``roomkey._patches.LibraryMismatch`` (one line) when an installed library no
    longer has the shape one of roomkey's guards is built on; a speed patch that does not fit
    is switched off with one warning line instead (``roomkey._patches``). ``RuntimeError``
    when roomkey is already set up in ``app``.

    ``operations``: also what ``roomkey serve`` runs for operators: ``/healthz`` and
    ``/readyz`` on ``app`` (and ``/metrics`` with ``metrics.on_main_port``), under
    ``prefix``, and the metrics listener (``[metrics]``, when enabled) while ``app`` runs.
    Off by default: the host application keeps its own URL space and ports.

    Logging stays the application's: roomkey's lines (the ``roomkey`` logger) propagate to its
    configuration, and are written to stderr by roomkey only if it has none when the app
    starts (``logs.fallback_logging``). Requests aiohttp cannot parse are answered with
    roomkey's error body, by every aiohttp server of the process (``bad_requests``).
    """
    return _setup(
        app,
        settings,
        policy=policy,
        operations=operations,
        listener=operations,
        prefix=prefix,
    )


def _setup(
    app: web.Application,
    settings: Settings,
    *,
    policy: PolicyFunction | None,
    operations: bool,
    listener: bool,
    prefix: str,
) -> Roomkey:
    if HANDLE in app:
        raise RuntimeError("roomkey is already set up in this application")
    prefix = normalized_prefix(prefix)
    logs.tame_libraries()
    # Library private parts, checked once: a guard that does not fit stops here
    # (LibraryMismatch); a speed patch that does not fit is switched off, with one warning.
    settings = replace(settings, performance=_patches.install(settings.performance).performance)
    bad_requests.install()
    origins = OriginPolicy(settings.server.allowed_origins)
    transport = SocketIOTransport(
        max_message_bytes=max(a.limits.max_socketio_message_bytes for a in settings.apps),
        ping_interval=settings.server.ping_interval_seconds,
        ping_timeout=settings.server.ping_timeout_seconds,
        websocket_only=settings.server.workers > 1,
        allow_origin=origins.allows,
        compression=settings.server.compression,
        direct_writes=settings.performance.direct_writes,
        lean_sockets=settings.performance.lean_sockets,
        lean_websockets=settings.performance.lean_websockets,
    )
    guard = RouteGuard(app)
    try:
        transport.attach(app, prefix)
        app[SOCKETIO] = transport
        server = settings.server
        authorize.add_routes(app, prefix + server.auth_path, prefix + server.user_auth_path)
        rest.add_routes(app, prefix)
        web_root = static.locate_web_root(server.web_root)
        static.add_routes(app, web_root, prefix)
        if server.development and web_root is not None and not prefix:
            # The demo's pages call absolute paths: at the root only.
            demo.add_routes(app, web_root)
        pusher = PusherTransport()
        pusher.add_routes(app, prefix)
        app[PUSHER] = pusher
        if operations:
            operations_routes.add_routes(
                app, with_metrics=settings.metrics.on_main_port, prefix=prefix
            )
    except RuntimeError as exc:  # aiohttp: a method already served at that path
        raise guard.failed(exc) from None
    guard.adopt()
    handle = Roomkey(settings, prefix=prefix)
    app[HANDLE] = handle
    app.cleanup_ctx.append(_route_check(guard))
    app.cleanup_ctx.append(_fallback_logging(settings))
    app.cleanup_ctx.extend(_lifetime(settings, origins, transport, policy, handle))
    # Every socket is told 4200 before aiohttp waits for open handlers to finish.
    app.on_shutdown.append(_going_away)
    if listener and settings.metrics.enabled:
        # After roomkey's own lifetime: the listener serves the runtime that one opens.
        app.cleanup_ctx.append(operations_routes.listener_context(settings.metrics))
    return handle


def create_app(
    settings: Settings, *, policy: PolicyFunction | None = None, metrics_listener: bool = False
) -> web.Application:
    """roomkey's own application: ``setup`` with ``/healthz`` and ``/readyz`` (and
    ``/metrics`` with ``metrics.on_main_port``). ``metrics_listener``: also run the metrics
    listener (``[metrics]``, when enabled) while the app runs, as ``roomkey serve`` does; left
    off, applications built side by side in one process (tests, benchmarks) never compete
    for its port. ``Roomkey.of(app)`` is its handle."""
    app = web.Application(client_max_size=1024 * 1024)
    _setup(app, settings, policy=policy, operations=True, listener=metrics_listener, prefix="")
    return app


def _route_check(guard: RouteGuard) -> Context:
    async def route_check(app: web.Application) -> AsyncIterator[None]:
        # Routes the host added after setup(): an overlap stops the start, naming both.
        guard.check()
        yield

    return route_check


def _fallback_logging(settings: Settings) -> Context:
    async def fallback_logging(app: web.Application) -> AsyncIterator[None]:
        with logs.fallback_logging(settings.server.log_format, settings.server.log_level):
            yield

    return fallback_logging


@dataclass(frozen=True)
class _Parts:
    """What roomkey runs inside the application, built when it starts (nothing started yet:
    every handler between the parts is set before any part can call it), then started and
    closed one cleanup context each."""

    runtime: Runtime
    broker: Broker
    presence: PresenceStore
    cache: ChannelCache
    nodes: NodeRegistry
    webhooks: WebhookDispatcher
    hook_relay: HookRelay
    sessions: SessionStore | None


PARTS = web.AppKey("roomkey.parts", _Parts)


def _build(
    settings: Settings, origins: OriginPolicy, policy_fn: PolicyFunction | None, hooks: Hooks
) -> _Parts:
    node_id = secrets.token_hex(8)
    apps = AppRegistry(settings.apps)
    policy: ChannelPolicy = policy_for(policy_fn) if policy_fn else RulePolicy(settings.apps)
    identity, sessions = create_identity(settings)
    broker = create_broker(settings, node_id)
    presence = create_presence_store(settings, node_id)
    nodes = create_node_registry(settings, node_id, presence)
    cache = create_channel_cache(settings)
    metrics = Metrics()
    identity.on_refusal = metrics.identity_refused
    webhooks = WebhookDispatcher(
        settings.webhooks,
        metrics=metrics,
        store=create_webhook_store(settings, node_id),
        apps=settings.apps,
    )
    # Hooks hear channel and member events where webhooks do, with their timing: through a
    # store of their own (cluster-wide with Redis), each claimed by one node.
    hook_relay = HookRelay(
        hooks,
        create_webhook_store(settings, node_id, "hook"),
        settings.hooks,
        settings.webhooks,
        apps=settings.apps,
    )
    hub = Hub(
        apps,
        broker,
        presence,
        policy,
        webhooks=webhooks,
        identities=identity,
        nodes=nodes,
        cache=cache,
        hooks=hook_relay,
    )
    metrics.watch_connections(lambda: hub.connections.values())
    metrics.watch_broker(broker.stats)
    broker.set_handler(metrics.timed_delivery(hub.deliver_local, hub.recipients))
    if settings.performance.relay_frames:
        broker.set_wire_forms(wire_forms)
    throttle = Throttle(settings.rate_limits, create_rate_limiter(settings))
    metrics.watch_rate_limiter(lambda: throttle.limiter.failures)

    def authorization_expired(conn: Connection) -> None:
        metrics.authorization_timeouts.labels(conn.app.id).inc()

    rt = Runtime(
        settings,
        apps,
        hub,
        policy,
        identity,
        origins,
        sessions,
        node_id,
        metrics=metrics,
        throttle=throttle,
        addresses=ClientAddresses(settings.server.trusted_proxies),
        deadlines=AuthorizationDeadlines(on_expired=authorization_expired),
        hooks=hooks,
    )
    if isinstance(policy, FirstCallPolicy):

        def use_known(known: ChannelPolicy) -> None:
            # Once its first call shows that a plain function answers at once, the
            # authorize endpoint calls it without awaiting anything.
            rt.policy = known

        policy.on_known = use_known
    return _Parts(rt, broker, presence, cache, nodes, webhooks, hook_relay, sessions)


def _lifetime(
    settings: Settings,
    origins: OriginPolicy,
    transport: SocketIOTransport,
    policy_fn: PolicyFunction | None,
    handle: Roomkey,
) -> list[Context]:
    """roomkey's lifetime in the application: one cleanup context per resource, in the order
    they start (aiohttp closes them in reverse: connections first, the session store last).
    A part whose start fails leaves the parts already started to be closed."""

    async def parts(app: web.Application) -> AsyncIterator[None]:
        app[PARTS] = _build(settings, origins, policy_fn, handle._hooks)
        app[RUNTIME] = app[PARTS].runtime
        handle._bind(app[RUNTIME])
        yield
        handle._bind(None)

    async def session_store(app: web.Application) -> AsyncIterator[None]:
        yield
        await _closed(app[PARTS].runtime.identity.close)
        sessions = app[PARTS].sessions
        if sessions is not None:
            await sessions.close()

    async def broker(app: web.Application) -> AsyncIterator[None]:
        await app[PARTS].broker.start()
        yield
        await _closed(app[PARTS].broker.close)

    async def presence(app: web.Application) -> AsyncIterator[None]:
        await app[PARTS].presence.start()
        yield
        await _closed(app[PARTS].presence.close)

    async def channel_cache(app: web.Application) -> AsyncIterator[None]:
        await app[PARTS].cache.start()
        yield
        await _closed(app[PARTS].cache.close)

    async def node_registry(app: web.Application) -> AsyncIterator[None]:
        # After presence: the registry's heartbeat keeps the presence store's entries true,
        # and asks it at close whether this node may unregister.
        await app[PARTS].nodes.start()
        yield
        await _closed(app[PARTS].nodes.close)

    async def webhooks(app: web.Application) -> AsyncIterator[None]:
        await app[PARTS].webhooks.start()
        yield
        await app[PARTS].webhooks.close()

    async def hooks(app: web.Application) -> AsyncIterator[None]:
        # Closed after the connections (aiohttp closes in reverse): their close events are
        # queued by then, and dropped with the queue. The relay closes first: it hands its
        # outbox to the store (with Redis, another node fires those events).
        await handle._hooks.start(app[RUNTIME].metrics)
        await app[PARTS].hook_relay.start(app[RUNTIME].metrics)
        yield
        await app[PARTS].hook_relay.close()
        await handle._hooks.close()

    async def throttle(app: web.Application) -> AsyncIterator[None]:
        await app[RUNTIME].throttle.start()
        yield
        await app[RUNTIME].throttle.close()

    async def event_loop_lag(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(app[RUNTIME].metrics.measure_event_loop())
        yield
        await cancel_and_wait([task])

    async def connections(app: web.Application) -> AsyncIterator[None]:
        rt = app[RUNTIME]
        transport.bind(rt)
        app[PUSHER].bind(rt)
        yield
        rt.deadlines.close()
        await rt.hub.close_all(4200, "server is shutting down, reconnect")
        await rt.hub.close()
        await transport.close()
        await app[PUSHER].close()

    async def gc_settings(app: web.Application) -> AsyncIterator[None]:
        restore_gc = gc_tuning.apply(settings.performance)
        yield
        restore_gc()

    return [
        parts,
        session_store,
        broker,
        presence,
        channel_cache,
        node_registry,
        webhooks,
        hooks,
        throttle,
        event_loop_lag,
        connections,
        gc_settings,
    ]


async def _closed(close: Callable[[], Awaitable[None]]) -> None:
    """Close a backend; one that cannot reach its server at shutdown is left as it is (a Redis
    node's leftovers are swept by the other nodes)."""
    try:
        await close()
    except ServiceUnavailable:
        pass


async def _going_away(app: web.Application) -> None:
    """At shutdown, before aiohttp waits for open requests (every socket is one): tell each
    client to reconnect (4200) and wait, bounded, for those goodbyes to be sent. In
    ``cleanup_ctx`` it would be too late: the sockets are closed by then."""
    rt = app.get(RUNTIME)
    if rt is None:
        return
    await rt.hub.close_all(4200, "server is shutting down, reconnect")
    # Both transports flush their goodbyes at once, within one shutdown budget.
    seconds = rt.settings.server.shutdown_timeout_seconds
    await asyncio.gather(app[SOCKETIO].drain(seconds), app[PUSHER].drain(seconds))
