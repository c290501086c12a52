"""pusher-js's browser build in headless Chromium against roomkey's Pusher transport.

The page is served by a small aiohttp app on another loopback port (so the authorize calls
are cross-origin, as on a real site); roomkey lists that origin in ``allowed_origins``. On a
page whose origin roomkey does not allow, the socket is refused with 4009, pusher-js reports
it and does not retry, and roomkey keeps nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Page, async_playwright

from tests.support.apps import APP_KEY, make_settings, make_token
from tests.support.browser import launch_chromium_async
from tests.support.metrics import sample
from tests.support.paths import NODE_MODULES
from tests.support.pusher import encrypt_like_the_sdk
from tests.support.servers import StartServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PUSHER_JS = NODE_MODULES / "pusher-js" / "dist" / "web" / "pusher-with-encryption.js"
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><script src="/pusher.js"></script></head>
<body><script>
  window.events = [];
  const cfg = JSON.parse(new URLSearchParams(location.search).get("cfg"));
  const record = (e) => window.events.push(e);
  const pusher = new Pusher(cfg.key, {
    wsHost: cfg.host, wsPort: cfg.port, forceTLS: false, enabledTransports: ["ws"],
    cluster: "mt1", disableStats: true,
    channelAuthorization: {
      endpoint: cfg.base + "/pusher/auth",
      headers: { Authorization: "Bearer " + cfg.token },
    },
  });
  pusher.connection.bind("state_change", (s) =>
    record({ type: "state", current: s.current, socket_id: pusher.connection.socket_id }));
  window.watch = (name) => {
    const channel = pusher.subscribe(name);
    channel.bind_global((event, data) => {
      if (event === "pusher:subscription_succeeded" && data && data.members !== undefined) {
        data = { count: data.count, members: data.members };
      }
      record({ type: "event", channel: name, event, data });
    });
  };
</script></body></html>
"""


@asynccontextmanager
async def serve_pusher_page(html: str) -> AsyncIterator[str]:
    """``html`` at ``/`` and pusher-js at ``/pusher.js`` on a free loopback port (an origin
    other than roomkey's); yields the page's base URL."""
    app = web.Application()

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    async def script(request: web.Request) -> web.FileResponse:
        return web.FileResponse(PUSHER_JS)

    app.router.add_get("/", index)
    app.router.add_get("/pusher.js", script)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def page_server() -> AsyncIterator[str]:
    async with serve_pusher_page(PAGE) as url:
        yield url


@pytest.fixture
async def browser_page() -> AsyncIterator[Page]:
    async with async_playwright() as pw:
        browser = await launch_chromium_async(pw)
        try:
            yield await browser.new_page()
        finally:
            await browser.close()


async def _event(page: Page, match: dict[str, Any], what: str) -> dict[str, Any]:
    """The first recorded event whose fields include ``match``."""
    found = await page.wait_for_function(
        """(m) => window.events.find((e) => Object.entries(m).every(([k, v]) => e[k] === v))""",
        arg=match,
        timeout=10_000,
    )
    value = await found.json_value()
    assert isinstance(value, dict), what
    return value


async def test_browser_pusher_js_private_presence_and_encrypted(
    start_server: StartServer, page_server: str, browser_page: Page
) -> None:
    server = await start_server(make_settings(server={"allowed_origins": (page_server,)}))
    cfg = {
        "key": APP_KEY,
        "host": "127.0.0.1",
        "port": server.port,
        "base": server.url,
        "token": make_token("42", name="Browser"),
    }
    page = browser_page
    await page.goto(f"{page_server}/?cfg={json.dumps(cfg)}")
    connected = await _event(page, {"type": "state", "current": "connected"}, "connected")
    assert connected["socket_id"].count(".") == 1

    await page.evaluate("watch('private-user-42')")
    await page.evaluate("watch('presence-browser')")
    await page.evaluate("watch('private-encrypted-user-42')")
    presence = await _event(
        page,
        {"channel": "presence-browser", "event": "pusher:subscription_succeeded"},
        "presence",
    )
    assert presence["data"] == {"count": 1, "members": {"42": {"name": "Browser"}}}
    await _event(
        page, {"channel": "private-user-42", "event": "pusher:subscription_succeeded"}, "private"
    )
    await _event(
        page,
        {"channel": "private-encrypted-user-42", "event": "pusher:subscription_succeeded"},
        "encrypted",
    )

    rt = server.runtime
    await rt.hub.publish(rt.apps.default, ["private-user-42"], "greeting", '{"hello":"browser"}')
    got = await _event(page, {"channel": "private-user-42", "event": "greeting"}, "publish")
    assert got["data"] == {"hello": "browser"}

    channel = "private-encrypted-user-42"
    sealed = encrypt_like_the_sdk(channel, {"secret": "only for 42"})
    await rt.hub.publish(rt.apps.default, [channel], "sealed", sealed)
    opened = await _event(page, {"channel": channel, "event": "sealed"}, "decrypted")
    assert opened["data"] == {"secret": "only for 42"}


async def test_browser_pusher_js_cache_channel_and_subscription_count(
    start_server: StartServer, page_server: str, browser_page: Page
) -> None:
    server = await start_server(
        make_settings(
            server={"allowed_origins": (page_server,)},
            subscription_count=True,
            subscription_count_interval_seconds=0.1,
        )
    )
    rt = server.runtime
    await rt.hub.publish(rt.apps.default, ["cache-browser"], "state", '{"v":1}')
    cfg = {
        "key": APP_KEY,
        "host": "127.0.0.1",
        "port": server.port,
        "base": server.url,
        "token": make_token("42"),
    }
    page = browser_page
    await page.goto(f"{page_server}/?cfg={json.dumps(cfg)}")
    await _event(page, {"type": "state", "current": "connected"}, "connected")
    await page.evaluate("watch('cache-browser')")
    await page.evaluate("watch('cache-empty')")
    cached = await _event(page, {"channel": "cache-browser", "event": "state"}, "cached event")
    assert cached["data"] == {"v": 1}
    await _event(page, {"channel": "cache-empty", "event": "pusher:cache_miss"}, "cache miss")
    count = await _event(
        page, {"channel": "cache-browser", "event": "pusher:subscription_count"}, "count"
    )
    assert count["data"] == {"subscription_count": 1}


# -- a page on an origin roomkey does not allow: refused with 4009, no retry ---------------


FOREIGN_PAGE = """<!doctype html>
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
    async with serve_pusher_page(FOREIGN_PAGE) as url, async_playwright() as pw:
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
