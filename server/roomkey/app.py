"""The aiohttp application: ``create_app(settings)``, or ``setup(app, settings)`` to mount
roomkey inside an existing aiohttp application.

Everything with a lifetime (backends, the hub, sessions, tasks) is opened and closed in
``cleanup_ctx``; handlers reach it through the ``RUNTIME`` app key.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from roomkey import gc_tuning
from roomkey.apps import AppRegistry
from roomkey.broker.factory import create_broker
from roomkey.config import Settings
from roomkey.errors import ServiceUnavailable
from roomkey.http import authorize, operations
from roomkey.http.context import RUNTIME
from roomkey.hub import Hub
from roomkey.identity.factory import create_identity
from roomkey.origins import OriginPolicy
from roomkey.policy import CallablePolicy, ChannelPolicy, PolicyCallable, RulePolicy
from roomkey.presence.factory import create_presence_store
from roomkey.runtime import Runtime
from roomkey.transports.socketio import SocketIOTransport

SOCKETIO = web.AppKey("roomkey.socketio", SocketIOTransport)


def setup(
    app: web.Application, settings: Settings, *, policy: PolicyCallable | None = None
) -> None:
    """Install roomkey's routes and lifetime into ``app`` (before it starts).

    ``policy`` replaces the config's channel rules with ``(app, identity, channel) -> bool``
    (or an awaitable of bool).
    """
    origins = OriginPolicy(settings.server.allowed_origins)
    transport = SocketIOTransport(
        max_message_bytes=max(a.limits.max_socketio_message_bytes for a in settings.apps),
        ping_interval=25,
        ping_timeout=20,
        websocket_only=settings.server.workers > 1,
        allow_origin=origins.allows,
        compression=settings.server.compression,
        direct_writes=settings.performance.direct_writes,
    )
    transport.attach(app)
    app[SOCKETIO] = transport
    authorize.add_routes(app, settings.server.auth_path, settings.server.user_auth_path)
    operations.add_routes(app)
    app.cleanup_ctx.append(_lifetime(settings, origins, transport, policy))


def create_app(settings: Settings, *, policy: PolicyCallable | None = None) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    setup(app, settings, policy=policy)
    return app


def _lifetime(
    settings: Settings,
    origins: OriginPolicy,
    transport: SocketIOTransport,
    policy_fn: PolicyCallable | None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        node_id = secrets.token_hex(8)
        apps = AppRegistry(settings.apps)
        policy: ChannelPolicy = (
            CallablePolicy(policy_fn) if policy_fn else RulePolicy(settings.apps)
        )
        identity, sessions = create_identity(settings)
        broker = create_broker(settings, node_id)
        presence = create_presence_store(settings, node_id)
        hub = Hub(apps, broker, presence, policy)
        await broker.start()
        await presence.start()
        rt = Runtime(settings, apps, hub, policy, identity, origins, sessions, node_id)
        app[RUNTIME] = rt
        transport.bind(rt)
        restore_gc = gc_tuning.apply(settings.performance)
        try:
            yield
        finally:
            restore_gc()
            await hub.close_all(4200, "server is shutting down, reconnect")
            await transport.close()
            for closer in (presence.close, broker.close):
                try:
                    await closer()
                except ServiceUnavailable:
                    pass
            if sessions is not None:
                await sessions.close()

    return lifetime
