"""Operations endpoints: ``GET /healthz`` (the process lives), ``GET /readyz`` (the broker can
publish) and ``GET /metrics`` (Prometheus text), and the metrics listener that serves them
apart from the client port.

- On the client port (``add_routes``): ``/healthz`` and ``/readyz``, which say nothing
  internal (no node id), and ``/metrics`` only with ``metrics.on_main_port``.
- On the metrics listener (``[metrics]``, 127.0.0.1:9601 by default): all three; its
  ``/readyz`` also names the node. ``listener_context`` runs it for an application's lifetime;
  ``start_listener`` starts one for a running roomkey (on port 0: a free port).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aiohttp import web

from roomkey.config import MetricsSettings
from roomkey.http.context import runtime
from roomkey.metrics import CONTENT_TYPE
from roomkey.runtime import RUNTIME, Runtime

log = logging.getLogger("roomkey")

# A scrape is one small GET: at shutdown the listener does not wait long for one in flight.
LISTENER_SHUTDOWN_SECONDS = 1.0


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Public form: ready or not, and whether the broker is; nothing that identifies the node."""
    ready = runtime(request).hub.broker.ready
    return web.json_response(
        {"status": "ready" if ready else "not ready", "broker": ready},
        status=200 if ready else 503,
    )


async def readyz_with_node(request: web.Request) -> web.Response:
    """The metrics listener's form: also the node id (operators match it to log lines)."""
    rt = runtime(request)
    ready = rt.hub.broker.ready
    return web.json_response(
        {"status": "ready" if ready else "not ready", "broker": ready, "node": rt.node_id},
        status=200 if ready else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    body = runtime(request).metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def add_routes(app: web.Application, *, with_metrics: bool = False, prefix: str = "") -> None:
    """The client port's operations routes (under ``prefix``); ``with_metrics`` adds
    ``/metrics`` (``metrics.on_main_port``), with a warning logged when ``app`` starts."""
    app.router.add_get(prefix + "/healthz", healthz)
    app.router.add_get(prefix + "/readyz", readyz)
    if with_metrics:
        app.router.add_get(prefix + "/metrics", metrics)
        app.on_startup.append(_warn_metrics_on_main_port)


async def _warn_metrics_on_main_port(app: web.Application) -> None:
    log.warning(
        "metrics.on_main_port is on: GET /metrics on the client port shows app ids, refusal "
        "reasons and traffic to anyone who can reach that port; prefer the metrics listener"
    )


@dataclass
class MetricsListener:
    """A running metrics listener: ``/metrics``, ``/healthz`` and ``/readyz`` of one roomkey
    on ``host``:``port`` (the port actually bound)."""

    runner: web.AppRunner
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def close(self) -> None:
        await self.runner.cleanup()


METRICS_LISTENER = web.AppKey("roomkey.metrics_listener", MetricsListener)


async def start_listener(rt: Runtime, host: str, port: int) -> MetricsListener:
    """Serve ``rt``'s operations endpoints on ``host``:``port`` (0: a free port) until
    ``close()``. Raises ``OSError`` naming the listener when the address cannot be bound."""
    app = web.Application()
    app[RUNTIME] = rt
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz_with_node)
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=LISTENER_SHUTDOWN_SECONDS
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        why = os.strerror(exc.errno) if exc.errno else str(exc)
        raise OSError(
            exc.errno, f"metrics listener cannot listen on {host}:{port}: {why}"
        ) from None
    bound = runner.addresses[0][1] if runner.addresses else port
    return MetricsListener(runner, host, int(bound))


def listener_context(
    settings: MetricsSettings,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` entry that runs the metrics listener while the application runs
    (append it after roomkey's own lifetime: it serves that lifetime's runtime). The
    listener is ``app[METRICS_LISTENER]`` meanwhile."""

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        listener = await start_listener(app[RUNTIME], settings.host, settings.port)
        app[METRICS_LISTENER] = listener
        log.info("metrics on %s/metrics", listener.url)
        try:
            yield
        finally:
            await listener.close()

    return lifetime
