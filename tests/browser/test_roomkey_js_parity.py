"""roomkey.js in headless Chromium with Pusher's newer features: a cache channel's
``cache_miss`` then its cached event, ``subscription_count`` rising and falling (and
``channel.subscriptionCount``), and ``user.signin()`` with a watchlist hearing ``online`` and
``offline``. Several RoomKey clients share one page (one browser is the slow part)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page

from tests.support.apps import APP_KEY, make_settings, make_token
from tests.support.servers import StartServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SETUP = """async (key) => {
  const { RoomKey } = await import(location.origin + "/roomkey.js");
  window.events = [];
  window.clients = {};
  window.open_client = async (name, token) => {
    const rk = new RoomKey(location.origin, { key, token });
    window.clients[name] = rk;
    rk.user.watchlist.bind("online", (e) => window.events.push({ client: name, watchlist: e }));
    rk.user.watchlist.bind("offline", (e) => window.events.push({ client: name, watchlist: e }));
    await new Promise((resolve) => rk.connection.bind("connected", resolve));
    return rk.socketId;
  };
  window.watch = (name, channel) => {
    const ch = window.clients[name].subscribe(channel);
    ch.bind_global((event, data) => window.events.push({ client: name, channel, event, data }));
    return ch.ready;
  };
}"""


async def _seen(page: Page, match: dict[str, Any]) -> dict[str, Any]:
    """The first recorded event whose fields equal ``match``'s (compared as JSON)."""
    found = await page.wait_for_function(
        """(m) => window.events.find((e) => Object.entries(m).every(
             ([k, v]) => JSON.stringify(e[k]) === JSON.stringify(v)))""",
        arg=match,
    )
    value = await found.json_value()
    assert isinstance(value, dict)
    return value


async def test_roomkey_js_cache_counts_and_watchlist(start_server: StartServer, page: Page) -> None:
    server = await start_server(
        make_settings(subscription_count=True, subscription_count_interval_seconds=0.1)
    )
    await page.goto(f"{server.url}/roomkey.js")
    await page.evaluate(SETUP, APP_KEY)
    for name, token in (
        ("a", make_token("a", name="A", watchlist=["b"])),
        ("b", make_token("b", name="B")),
    ):
        await page.evaluate("([n, t]) => window.open_client(n, t)", [name, token])

    # Cache channel: a miss first, then the event a server published, for a later subscriber.
    await page.evaluate("window.watch('a', 'cache-board')")
    await _seen(page, {"client": "a", "channel": "cache-board", "event": "pusher:cache_miss"})
    rt = server.runtime
    await rt.hub.publish(rt.apps.default, ["cache-board"], "score", '{"n":5}')
    await page.evaluate("window.watch('b', 'cache-board')")
    cached = await _seen(page, {"client": "b", "channel": "cache-board", "event": "score"})
    assert cached["data"] == {"n": 5}

    # Subscription counts: both clients on the channel, then one leaves.
    await _seen(
        page,
        {
            "client": "a",
            "channel": "cache-board",
            "event": "subscription_count",
            "data": {"subscription_count": 2},
        },
    )
    assert await page.evaluate("window.clients.a.channel('cache-board').subscriptionCount") == 2
    await page.evaluate("window.clients.b.unsubscribe('cache-board')")
    await _seen(
        page,
        {
            "client": "a",
            "channel": "cache-board",
            "event": "pusher:subscription_count",
            "data": {"subscription_count": 1},
        },
    )

    # Watchlist: a watches b; b signs in (online), then disconnects (offline).
    user_data = await page.evaluate("window.clients.a.user.signin()")
    assert user_data == {"id": "a", "user_info": {"name": "A"}, "watchlist": ["b"]}
    await page.evaluate("window.clients.b.user.signin()")
    await _seen(page, {"client": "a", "watchlist": {"name": "online", "user_ids": ["b"]}})
    await page.evaluate("window.clients.b.disconnect()")
    await _seen(page, {"client": "a", "watchlist": {"name": "offline", "user_ids": ["b"]}})
    # Events sent to a signed-in user reach client.user.
    await page.evaluate(
        "window.clients.a.user.bind('notice', (d) => window.events.push({client: 'a', user: d}))"
    )
    await rt.hub.publish(rt.apps.default, ["#server-to-user-a"], "notice", '{"hi":1}')
    await _seen(page, {"client": "a", "user": {"hi": 1}})
