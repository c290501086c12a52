"""Baseline: a plain aiohttp WebSocket broadcast loop, and a bare aiohttp JSON handler.

``/ws`` registers the socket and sends ``hello``; a publish encodes the Socket.IO-shaped text
once and writes that one frame to each socket in turn. ``POST /auth`` answers a constant JSON
object: the floor any authorize handler is compared against. ``POST /auth-hmac`` is the
least an authorize handler does (the issue's "form parse + HMAC"): read the form body, sign
``socket_id:channel_name`` with HMAC-SHA256, answer ``{"auth"}``; no identity, no rules, no
checks. roomkey's own handler is compared against both.
"""

from __future__ import annotations

import argparse
import hmac
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


SECRET = b"bench-secret-0123456789"


async def auth_hmac_handler(request: web.Request) -> web.Response:
    form = await request.post()
    socket_id, channel = form.get("socket_id"), form.get("channel_name")
    if not isinstance(socket_id, str) or not isinstance(channel, str):
        raise web.HTTPBadRequest()
    message = f"{socket_id}:{channel}".encode()
    signature = hmac.digest(SECRET, message, "sha256").hex()
    return web.json_response({"auth": f"bench-key:{signature}"})


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
    app.router.add_post("/auth-hmac", auth_hmac_handler)
    add_events_route(app, publish)
    return app


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    web.run_app(make_app(), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
