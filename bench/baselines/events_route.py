"""The baselines' stand-in for Pusher's ``POST /apps/{app_id}/events``.

The load generator publishes to every target with the same signed REST requests
(``bench/publisher.py``). A baseline has no REST API of its own: this route reads the JSON
body, takes its ``data`` and hands it to the baseline's publish, answering ``{}`` once the
publish returned (as roomkey answers once its broker took the event). It does not check the
signature: the baselines are the floor roomkey is compared against.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from aiohttp import web

Publish = Callable[[str], Awaitable[None]]


def add_events_route(app: web.Application, publish: Publish) -> None:
    async def handle(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        await publish(str(body["data"]))
        return web.json_response({})

    app.router.add_post("/apps/{app_id}/events", handle)
