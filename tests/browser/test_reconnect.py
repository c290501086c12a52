"""roomkey.js across a server restart, in headless Chromium: the JWT demo page reconnects
with a fresh socket id and authorizes every channel again; the cookie page, whose session
lived in the stopped server's memory, is refused and asks to log in again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.support.browser import log_in, open_demo, running_chromium, wait_joined
from tests.support.processes import RoomkeyProcess, start_roomkey
from tests.support.servers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Records every connection state and every authorize call the page's client makes.
RECORD = """() => {
  window.seen = {states: [], authorized: []};
  demo.rk.connection.bind('state_change', (s) => window.seen.states.push(s.current));
  demo.rk.connection.bind('authorize_response',
    (r) => window.seen.authorized.push([r.socket_id, r.channel, r.status]));
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with running_chromium() as browser:
        yield browser


@pytest.fixture
def restartable(tmp_path: Path) -> Iterator[list[RoomkeyProcess]]:
    """A list holding the running roomkey (first one started on a free port); every process
    put in it is stopped at the end."""
    servers = [start_roomkey(free_port(), tmp_path / "roomkey.log")]
    yield servers
    for server in servers:
        server.stop()


def restart(servers: list[RoomkeyProcess]) -> RoomkeyProcess:
    """Kill the running roomkey (as a crash would) and start a new one on the same port.
    (A graceful stop waits out server.shutdown_timeout_seconds while sockets are open.)"""
    old = servers[-1]
    old.stop(kill=True)
    new = start_roomkey(old.port, old.log_path)
    servers.append(new)
    return new


@pytest.fixture
def pages() -> Iterator[list[Page]]:
    opened: list[Page] = []
    yield opened
    for page in opened:
        page.context.close()


def test_jwt_page_recovers_after_restart(
    browser: Browser, restartable: list[RoomkeyProcess], pages: list[Page]
) -> None:
    url = restartable[0].url
    page = open_demo(browser, url + "/jwt")
    pages.append(page)
    me = log_in(page, "Carol")
    first_id = page.text_content("#socket-id")
    page.evaluate(RECORD)

    restart(restartable)

    page.wait_for_function("id => demo.rk.socketId && demo.rk.socketId !== id", arg=first_id)
    wait_joined(page)
    second_id = page.evaluate("demo.rk.socketId")
    assert page.text_content("#socket-id") == second_id
    seen = page.evaluate("window.seen")
    assert seen["states"][0] in ("connecting", "unavailable")
    assert seen["states"][-1] == "connected"
    # Both channels were authorized again, for the new socket id, and granted.
    assert sorted(seen["authorized"]) == sorted(
        [
            [second_id, f"private-user-{me['user_id']}", 200],
            [second_id, "presence-room-lobby", 200],
        ]
    )
    # The new subscriptions are live: a chat message goes round through the new server.
    page.fill("#text", "back again")
    page.press("#text", "Enter")
    page.wait_for_selector("#messages li:has-text('back again')")
    assert page.text_content("#messages li:last-child") == "Carol: back again"
    assert page.text_content("#member-count") == "1"


def test_cookie_page_asks_to_log_in_when_its_session_is_gone(
    browser: Browser, restartable: list[RoomkeyProcess], pages: list[Page]
) -> None:
    page = open_demo(browser, restartable[0].url + "/")
    pages.append(page)
    log_in(page, "Dave")
    page.evaluate(RECORD)

    restart(restartable)

    # The new process does not know the session: 4009 at the handshake, no retry loop.
    page.wait_for_selector("#login:not([hidden])")
    assert page.text_content("#login-error") == "Your session has ended: log in again."
    assert page.evaluate("demo.rk.connection.state") == "failed"
    log_in(page, "Dave")
    assert page.text_content("#state") == "connected"
