"""pusher-js in headless Chromium, on a page whose origin roomkey does not allow: the socket
is refused with 4009, pusher-js reports it and does not retry, and roomkey keeps nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, async_playwright

from tests.browser import launch_chromium_async
from tests.conftest import APP_KEY, StartServer, make_settings
from tests.metrics_helpers import sample
from tests.test_pusher_browser import serve_pusher_page

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><script src="/pusher.js"></script></head>
<body><script>
  window.events = [];
  const cfg = JSON.parse(new URLSearchParams(location.search).get("cfg"));
  const pusher = new Pusher(cfg.key, {
    wsHost: cfg.host, wsPort: cfg.port, forceTLS: false, enabledTransports: ["ws"],
    cluster: "mt1", disableStats: true,
  });
  pusher.connection.bind("state_change", (s) => window.events.push({ state: s.current }));
  pusher.connection.bind("error", (e) => window.events.push({ error: e }));
</script></body></html>
"""


@pytest.fixture
async def foreign_page() -> AsyncIterator[tuple[str, Page]]:
    """A page server on another loopback port (another origin) and a Chromium page."""
    async with serve_pusher_page(PAGE) as url, async_playwright() as pw:
        browser = await launch_chromium_async(pw)
        try:
            yield url, await browser.new_page()
        finally:
            await browser.close()


async def test_a_page_on_a_foreign_origin_is_refused_and_does_not_retry(
    start_server: StartServer, foreign_page: tuple[str, Page]
) -> None:
    # Same origin only (the default): the page's origin is another port.
    server = await start_server(make_settings())
    page_url, page = foreign_page
    cfg = {"key": APP_KEY, "host": "127.0.0.1", "port": server.port}
    await page.goto(f"{page_url}/?cfg={json.dumps(cfg)}")
    found = await page.wait_for_function("() => window.events.find((e) => e.error)", timeout=10_000)
    error = await found.json_value()
    assert error["error"]["error"]["data"] == {"code": 4009, "message": "origin is not allowed"}
    await page.wait_for_function(
        "() => window.events.some((e) => e.state === 'disconnected')", timeout=10_000
    )
    # 4009 is in Pusher's "do not reconnect" range: no second attempt comes. pusher-js may
    # switch to "connecting" inside its constructor, before the page binds state_change (when
    # the document is ready before the page's script runs), so the first "connecting" may not
    # be seen; the server's refusal count below proves there was exactly one attempt.
    await asyncio.sleep(1.5)
    states = [e["state"] for e in await page.evaluate("window.events") if "state" in e]
    assert states.count("connecting") <= 1, states
    assert states[-1] == "disconnected", states
    rt = server.runtime
    assert rt.hub.connections == {}
    text = rt.metrics.render().decode()
    assert sample(text, "roomkey_refusals_total", what="pusher connect", reason="origin") == 1
    assert sample(text, "roomkey_connections_opened_total", transport="pusher") is None
