"""The aiohttp application: ``create_app(settings)``, or ``setup(app, settings)`` to mount
roomkey inside an existing aiohttp application.

Everything with a lifetime (backends, the hub, sessions, tasks, the metrics listener) is
opened and closed in ``cleanup_ctx``; handlers reach it through the ``RUNTIME`` app key.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

from aiohttp import web

from roomkey import _patches, gc_tuning, logs
from roomkey.broker.factory import create_broker
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
from roomkey.http import authorize, bad_requests, demo, operations, rest, static
from roomkey.http.context import RUNTIME
from roomkey.hub.authorization_deadlines import AuthorizationDeadlines
from roomkey.hub.connection import Connection
from roomkey.hub.hub import Hub
from roomkey.identity.factory import create_identity
from roomkey.identity.origins import OriginPolicy
from roomkey.identity.proxies import ClientAddresses
from roomkey.metrics import Metrics
from roomkey.presence.factory import create_presence_store
from roomkey.ratelimit.factory import create_rate_limiter
from roomkey.ratelimit.throttle import Throttle
from roomkey.runtime import Runtime
from roomkey.tasks import cancel_and_wait
from roomkey.transports.pusher.server import PusherTransport
from roomkey.transports.socketio.server import SocketIOTransport
from roomkey.webhooks import WebhookDispatcher

SOCKETIO = web.AppKey("roomkey.socketio", SocketIOTransport)
PUSHER = web.AppKey("roomkey.pusher", PusherTransport)


def setup(
    app: web.Application,
    settings: Settings,
    *,
    policy: PolicyFunction | None = None,
    operations: bool = False,
) -> None:
    """Install roomkey's routes and lifetime into ``app`` (before it starts).

    ``policy`` replaces the config's channel rules with ``(app, identity, channel) -> bool``,
    or an ``async def`` (or any function returning an awaitable of bool): which of the two
    is decided once (``core.policy.policy_for``).

    Raises ``roomkey._patches.LibraryMismatch`` (one line) when an installed library no
    longer has the shape one of roomkey's guards is built on; a speed patch that does not fit
    is switched off with one warning line instead (``roomkey._patches``).

    ``operations``: also what ``roomkey serve`` runs for operators: ``/healthz`` and
    ``/readyz`` on ``app`` (and ``/metrics`` with ``metrics.on_main_port``), and the metrics
    listener (``[metrics]``, when enabled) while ``app`` runs. Off by default: the host
    application keeps its own URL space and ports.

    Logging stays the application's: roomkey's lines (the ``roomkey`` logger) propagate to its
    configuration, and are written to stderr by roomkey only if it has none when the app
    starts (``logs.fallback_logging``). Requests aiohttp cannot parse are answered with
    roomkey's error body, by every aiohttp server of the process (``bad_requests``).
    """
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
    )
    transport.attach(app)
    app[SOCKETIO] = transport
    authorize.add_routes(app, settings.server.auth_path, settings.server.user_auth_path)
    rest.add_routes(app)
    web_root = static.locate_web_root(settings.server.web_root)
    static.add_routes(app, web_root)
    if settings.server.development and web_root is not None:
        demo.add_routes(app, web_root)
    app.cleanup_ctx.append(_fallback_logging(settings))
    app.cleanup_ctx.append(_lifetime(settings, origins, transport, policy))
    pusher = PusherTransport()
    pusher.add_routes(app)
    app[PUSHER] = pusher
    # Every socket is told 4200 before aiohttp waits for open handlers to finish.
    app.on_shutdown.append(_going_away)
    if operations:
        _add_operations(app, settings, listener=True)


def create_app(
    settings: Settings, *, policy: PolicyFunction | None = None, metrics_listener: bool = False
) -> web.Application:
    """roomkey's own application: ``setup`` with ``/healthz`` and ``/readyz`` (and
    ``/metrics`` with ``metrics.on_main_port``). ``metrics_listener``: also run the metrics
    listener (``[metrics]``, when enabled) while the app runs, as ``roomkey serve`` does; left
    off, applications built side by side in one process (tests, benchmarks) never compete
    for its port."""
    app = web.Application(client_max_size=1024 * 1024)
    setup(app, settings, policy=policy)
    _add_operations(app, settings, listener=metrics_listener)
    return app


def _add_operations(app: web.Application, settings: Settings, *, listener: bool) -> None:
    operations.add_routes(app, with_metrics=settings.metrics.on_main_port)
    if listener and settings.metrics.enabled:
        # After roomkey's own lifetime: the listener serves the runtime that one opens.
        app.cleanup_ctx.append(operations.listener_context(settings.metrics))


def _fallback_logging(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def fallback_logging(app: web.Application) -> AsyncIterator[None]:
        with logs.fallback_logging(settings.server.log_format, settings.server.log_level):
            yield

    return fallback_logging


def _lifetime(
    settings: Settings,
    origins: OriginPolicy,
    transport: SocketIOTransport,
    policy_fn: PolicyFunction | None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        node_id = secrets.token_hex(8)
        apps = AppRegistry(settings.apps)
        policy: ChannelPolicy = policy_for(policy_fn) if policy_fn else RulePolicy(settings.apps)
        identity, sessions = create_identity(settings)
        broker = create_broker(settings, node_id)
        presence = create_presence_store(settings, node_id)
        metrics = Metrics()
        webhooks = WebhookDispatcher(settings.webhooks, metrics=metrics)
        hub = Hub(apps, broker, presence, policy, webhooks=webhooks, identities=identity)
        await broker.start()
        await presence.start()
        await webhooks.start()
        metrics.watch_connections(lambda: hub.connections.values())
        metrics.watch_broker(broker.stats)
        broker.set_handler(metrics.timed_delivery(hub.deliver_local, hub.recipients))

        def authorization_expired(conn: Connection) -> None:
            metrics.authorization_timeouts.labels(conn.app.id).inc()

        throttle = Throttle(settings.rate_limits, create_rate_limiter(settings))
        await throttle.start()
        metrics.watch_rate_limiter(lambda: throttle.limiter.failures)
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
        )
        if isinstance(policy, FirstCallPolicy):

            def use_known(known: ChannelPolicy) -> None:
                # Once its first call shows that a plain function answers at once, the
                # authorize endpoint calls it without awaiting anything.
                rt.policy = known

            policy.on_known = use_known
        app[RUNTIME] = rt
        transport.bind(rt)
        loop_lag = asyncio.create_task(metrics.measure_event_loop())
        app[PUSHER].bind(rt)
        restore_gc = gc_tuning.apply(settings.performance)
        try:
            yield
        finally:
            restore_gc()
            await cancel_and_wait([loop_lag])
            rt.deadlines.close()
            await hub.close_all(4200, "server is shutting down, reconnect")
            await transport.close()
            await app[PUSHER].close()
            await webhooks.close()
            await throttle.close()
            for closer in (presence.close, broker.close):
                try:
                    await closer()
                except ServiceUnavailable:
                    pass
            if sessions is not None:
                await sessions.close()

    return lifetime


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
