"""The README's first private channel, verbatim, in headless Chromium: a page on one origin,
roomkey on another (allowed_origins), socket.io-client's browser build, a real fetch with
CORS to the authorize endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from aiohttp import web
from playwright.async_api import async_playwright

from roomkey.config import development_settings
from tests.support.browser import launch_chromium_async
from tests.support.paths import REPO_ROOT
from tests.support.readme import first_channel_snippet
from tests.support.servers import StartServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = REPO_ROOT
SIO_BUNDLE = ROOT / "web" / "node_modules" / "socket.io-client" / "dist" / "socket.io.esm.min.js"


def page_html(snippet: str) -> str:
    # console.log lines are what the test reads back, as in a developer's console.
    return f"""<!doctype html><html><head>
<script type="importmap">{{"imports": {{"socket.io-client": "/socket.io.esm.min.js"}}}}</script>
</head><body><script type="module">
{snippet}
</script></body></html>"""


@pytest.fixture
async def page_origin() -> AsyncIterator[tuple[str, dict[str, str]]]:
    """A tiny site serving the page and the socket.io-client bundle; yields (origin, pages)."""
    pages: dict[str, str] = {}
    bundle = SIO_BUNDLE.read_bytes()

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=pages["index"], content_type="text/html")

    async def sio(request: web.Request) -> web.Response:
        return web.Response(body=bundle, content_type="text/javascript")

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/socket.io.esm.min.js", sio)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", pages
    await runner.cleanup()


async def test_first_private_channel_in_chromium(
    start_server: StartServer, page_origin: tuple[str, dict[str, str]]
) -> None:
    origin, pages = page_origin
    base = development_settings()
    settings = replace(base, server=replace(base.server, allowed_origins=(origin,)))
    server = await start_server(settings)
    pages["index"] = page_html(first_channel_snippet().replace("http://127.0.0.1:6001", server.url))
    async with async_playwright() as pw:
        browser = await launch_chromium_async(pw)
        try:
            page = await browser.new_page()
            lines: list[str] = []
            page.on("console", lambda msg: lines.append(msg.text))
            async with page.expect_console_message(
                lambda m: m.text.startswith("subscribed"), timeout=10000
            ) as subscribed:
                await page.goto(origin + "/")
            # "subscribed private-user-<id> {...}": the user the demo minted a token for.
            channel = (await subscribed.value).text.split()[1]
            assert channel.startswith("private-user-u"), channel
            rt = server.runtime
            async with page.expect_console_message(
                lambda m: "greeting" in m.text, timeout=10000
            ) as got:
                await rt.hub.publish(rt.apps.default, [channel], "greeting", "hello")
            assert (await got.value).text == f"{channel} greeting hello"
            assert not any("error" in line.lower() for line in lines), lines
        finally:
            await browser.close()
