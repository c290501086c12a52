"""Several roomkey nodes (real aiohttp apps in the test's loop) over one redis-server."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import aiohttp

from tests.support.apps import make_settings
from tests.support.backends import redis_settings
from tests.support.servers import Server, StartServer
from tests.support.waiting import wait_for_condition


async def start_nodes(
    start_server: StartServer, url: str, count: int = 2, **app_overrides: Any
) -> list[Server]:
    """``count`` nodes of the test apps (``app_overrides`` applied to the first, as
    ``make_settings`` does) sharing the redis-server at ``url``, each with its broker ready."""
    settings = replace(make_settings(**app_overrides), redis=redis_settings(url))
    nodes = [await start_server(settings) for _ in range(count)]
    await wait_for_condition(
        lambda: all(n.runtime.hub.broker.ready for n in nodes), "every node's broker ready"
    )
    return nodes


async def readyz(server: Server) -> tuple[int, dict[str, Any]]:
    """``GET /readyz``: (status, body)."""
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/readyz") as resp:
        return resp.status, await resp.json()
