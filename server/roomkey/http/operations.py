"""``GET /healthz`` (the process lives), ``GET /readyz`` (the broker can publish) and
``GET /metrics`` (Prometheus text)."""

from __future__ import annotations

from aiohttp import web

from roomkey.http.context import runtime
from roomkey.metrics import CONTENT_TYPE


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    rt = runtime(request)
    ready = rt.hub.broker.ready
    return web.json_response(
        {"status": "ready" if ready else "not ready", "broker": ready, "node": rt.node_id},
        status=200 if ready else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    body = runtime(request).metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
