"""Baseline: a bare python-socketio server (defaults) whose publish is one room emit.

Every client joins the room ``bench`` on connect; a publish is
``sio.emit("event", {...}, room="bench")``, python-socketio's own fan-out path.
"""

from __future__ import annotations

import argparse
from typing import Any

import socketio
from aiohttp import web

from bench.baselines.events_route import add_events_route


def make_app() -> web.Application:
    sio = socketio.AsyncServer(async_mode="aiohttp", transports=["websocket"])

    @sio.on("connect")  # type: ignore[untyped-decorator]
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        await sio.enter_room(sid, "bench")

    async def publish(data: str) -> None:
        await sio.emit("event", {"channel": "bench", "event": "tick", "data": data}, room="bench")

    app = web.Application()
    sio.attach(app)
    add_events_route(app, publish)
    return app


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    web.run_app(make_app(), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
