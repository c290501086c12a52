"""The benchmark's publish hook, mounted only by the bench server wrappers (never by roomkey).

``POST /bench/publish?count=M&interval=S`` answers at once and then publishes ``M`` messages
``S`` seconds apart (``0``: back to back, yielding to the loop between messages). Each message's
data is ``@<monotonic ns>@`` plus padding, so the load generator (another process on the same
machine, same monotonic clock) measures arrival latency.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

PADDING = "x" * 64
MAX_COUNT = 10_000

Publish = Callable[[str], Awaitable[None]]
TASKS = web.AppKey("bench.tasks", set[asyncio.Task[None]])


def stamp() -> str:
    return f"@{time.monotonic_ns()}@{PADDING}"


def add_publish_route(app: web.Application, publish: Publish) -> None:
    app[TASKS] = set()

    async def run(count: int, interval: float) -> None:
        for _ in range(count):
            await publish(stamp())
            await asyncio.sleep(interval)

    async def handle(request: web.Request) -> web.Response:
        count = min(int(request.query.get("count", "1")), MAX_COUNT)
        interval = max(0.0, min(float(request.query.get("interval", "0")), 5.0))
        task = asyncio.ensure_future(run(count, interval))
        app[TASKS].add(task)
        task.add_done_callback(app[TASKS].discard)
        return web.json_response({"publishing": count})

    async def cancel_tasks(app: web.Application) -> None:
        tasks: set[asyncio.Task[None]] = app[TASKS]
        for task in list(tasks):
            task.cancel()

    app.router.add_post("/bench/publish", handle)
    app.on_shutdown.append(cancel_tasks)
