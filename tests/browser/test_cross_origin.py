"""The README's snippet in headless Chromium: a page on another origin loads /roomkey.js from
roomkey as a module, connects with a JWT, authorizes a presence channel across origins
(CORS for an allowed origin) and triggers a client event."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.support.apps import make_token
from tests.support.browser import running_chromium
from tests.support.processes import RoomkeyProcess, start_roomkey
from tests.support.servers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CONFIG = """
[server]
allowed_origins = ["{app_origin}"]

[jwt]
secret = "{jwt_secret}"

[[apps]]
id = "7"
key = "cross-key"
secret = "cross-secret-0123456789"
client_events = true
rules = [{{ pattern = "presence-*" }}, {{ pattern = "private-user-{{user_id}}" }}]
"""

PAGE = """<!doctype html><meta charset="utf-8"><title>app</title>
<script type="module">
  const params = new URLSearchParams(location.search);
  const base = params.get("roomkey");
  const { RoomKey } = await import(base + "/roomkey.js");
  const rk = new RoomKey(base, {key: "cross-key", token: params.get("token"),
                                authEndpoint: base + "/pusher/auth"});
  window.rk = rk;
  window.result = {events: []};
  const room = rk.subscribe("presence-room-lobby");
  room.bind("client-typing", (data, meta) => window.result.events.push([data, meta]));
  room.bind("subscription_error", (err) => { window.result.error = [err.status, err.message]; });
  await room.ready;
  window.result.me = room.members.me;
  window.result.socketId = rk.socketId;
</script>"""

JWT_SECRET = "cross-origin-jwt-secret-0123456789-abcdef"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with running_chromium() as browser:
        yield browser


class _AppPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def app_origin() -> Iterator[str]:
    """The app's own web server: another port on loopback, so another origin (a public
    origin would be kept off 127.0.0.1 by Chromium's local network access checks)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _AppPage)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def roomkey_cross(tmp_path: Path, app_origin: str) -> Iterator[RoomkeyProcess]:
    config = tmp_path / "roomkey.toml"
    config.write_text(CONFIG.format(jwt_secret=JWT_SECRET, app_origin=app_origin))
    server = start_roomkey(free_port(), tmp_path / "roomkey.log", config)
    yield server
    server.stop()


def test_page_on_another_origin_uses_roomkey_js(
    browser: Browser, roomkey_cross: RoomkeyProcess, app_origin: str
) -> None:
    context = browser.new_context()
    context.set_default_timeout(8_000)
    try:
        pages = []
        for user in ("ann", "ben"):
            token = make_token(user, secret=JWT_SECRET, name=user.title())
            page = context.new_page()
            page.goto(f"{app_origin}/?roomkey={roomkey_cross.url}&token={token}")
            page.wait_for_function("window.result && (window.result.me || window.result.error)")
            pages.append(page)
        ann, ben = pages
        assert ann.evaluate("window.result.error") is None
        assert ann.evaluate("window.result.me") == {"id": "ann", "info": {"name": "Ann"}}
        ben.wait_for_function("rk.channel('presence-room-lobby').members.count === 2")
        ann.evaluate("rk.channel('presence-room-lobby').trigger('client-typing', {on: true})")
        ann_event = [{"on": True}, {"user_id": "ann"}]
        ben.wait_for_function("window.result.events.length === 1")
        assert ben.evaluate("window.result.events") == [ann_event]
        # A private channel of someone else is refused by the policy, across origins too.
        refused = ann.evaluate(
            """async () => {
                 try { await rk.subscribe('private-user-ben').ready; return 'joined'; }
                 catch (e) { return [e.status, e.code]; }
               }"""
        )
        assert refused == [403, 4009]
    finally:
        context.close()
