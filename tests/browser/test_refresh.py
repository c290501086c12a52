"""roomkey.js ``rk.refresh(token)`` in headless Chromium: a page connected with a JWT presents
a new one for the same user without reconnecting; another user's token is refused (4009) and
changes nothing."""

from __future__ import annotations

import time

import pytest
from playwright.async_api import Page

from tests.support.apps import APP_KEY, make_token
from tests.support.servers import Server
from tests.support.waiting import wait_for_condition

pytestmark = [pytest.mark.browser, pytest.mark.slow]


CONNECT = """async ([key, token]) => {
  const { RoomKey } = await import(location.origin + "/roomkey.js");
  window.rk = new RoomKey(location.origin, { key, token });
  await new Promise((resolve) => window.rk.connection.bind("connected", resolve));
  return window.rk.socketId;
}"""

REFRESH = """async (token) => {
  try { return { answer: await window.rk.refresh(token) }; }
  catch (e) { return { code: e.code, message: e.message }; }
}"""


async def test_rk_refresh_renews_the_token_without_reconnecting(server: Server, page: Page) -> None:
    # Any page on roomkey's origin will do: roomkey.js itself.
    await page.goto(f"{server.url}/roomkey.js")
    first = make_token("7", name="Ada")
    socket_id = await page.evaluate(CONNECT, [APP_KEY, first])
    hub = server.runtime.hub
    await wait_for_condition(lambda: socket_id in hub.connections, "the page's socket on the hub")
    conn = hub.connections[socket_id]
    assert conn.identity is not None and conn.identity.user_info == {"name": "Ada"}

    renewed = make_token("7", expires_in=600, name="Ada L.")
    assert await page.evaluate(REFRESH, renewed) == {"answer": {}}
    assert conn.identity.user_info == {"name": "Ada L."}
    assert await page.evaluate("window.rk.options.token") == renewed  # for the next handshake

    refused = await page.evaluate(REFRESH, make_token("8"))
    assert refused["code"] == 4009 and "another user" in refused["message"]
    assert conn.identity.user_info == {"name": "Ada L."}
    assert await page.evaluate("window.rk.options.token") == renewed

    # The same socket all along.
    assert await page.evaluate("window.rk.socketId") == socket_id
    assert conn.identity.expires_at is not None and conn.identity.expires_at > time.time() + 300
