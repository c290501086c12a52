"""Baseline: a plain aiohttp WebSocket broadcast loop, and a bare aiohttp JSON handler.

``/ws`` registers the socket and sends ``hello``; a publish encodes the Socket.IO-shaped text
once and writes that one frame to each socket in turn. ``POST /auth`` answers a constant JSON
object: the floor any authorize handler is compared against.
"""

from __future__ import annotations

import argparse
import json

from aiohttp import web

from bench.baselines.events_route import add_events_route

SOCKETS = web.AppKey("bench.sockets", set[web.WebSocketResponse])


async def ws_handler(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=False)
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)
    try:
        await ws.send_str("hello")
        async for _ in ws:
            pass
    finally:
        request.app[SOCKETS].discard(ws)
    return ws


async def auth_handler(request: web.Request) -> web.Response:
    return web.json_response({"auth": "bench-key:0123456789abcdef"})


def make_app() -> web.Application:
    app = web.Application()
    app[SOCKETS] = set()

    async def publish(data: str) -> None:
        text = "42" + json.dumps(["event", {"channel": "bench", "event": "tick", "data": data}])
        sockets: set[web.WebSocketResponse] = app[SOCKETS]
        for ws in list(sockets):
            if not ws.closed:
                await ws.send_str(text)

    app.router.add_get("/ws", ws_handler)
    app.router.add_post("/auth", auth_handler)
    add_events_route(app, publish)
    return app


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    web.run_app(make_app(), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
