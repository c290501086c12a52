"""Reading roomkey's ``/metrics`` in tests (parsed with prometheus-client's own text parser).

Metrics live on roomkey's metrics listener, not on the client port (``server.url``):
``scrape(server)`` reads them from the listener that server runs, or from one started for the
scrape on a free loopback port (the same code ``roomkey serve`` runs). Processes started by
``tests/support/processes.py`` read theirs with ``RoomkeyProcess.metrics()``.
"""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from roomkey.http.operations import METRICS_LISTENER, start_listener
from tests.support.servers import Server


async def scrape(server: Server) -> str:
    """``GET /metrics`` over HTTP from the server's metrics listener, as Prometheus would."""
    listener = server.app.get(METRICS_LISTENER)
    if listener is not None:
        return await scrape_url(listener.url)
    listener = await start_listener(server.runtime, "127.0.0.1", 0)
    try:
        return await scrape_url(listener.url)
    finally:
        await listener.close()


async def scrape_url(base_url: str) -> str:
    """``GET {base_url}/metrics``: the text, after checking the status and content type."""
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.get(f"{base_url}/metrics") as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        return await resp.text()


def families(text: str) -> set[str]:
    """The metric family names in an exposition (counters without their ``_total``)."""
    return {family.name for family in text_string_to_metric_families(text)}


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name`` whose labels include ``labels``; None if absent."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None
