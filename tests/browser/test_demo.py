"""The demo in headless Chromium: two users in two browser contexts, each with its own
session cookie, against ``roomkey serve`` in development mode."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.support.browser import log_in, member_ids, open_demo, running_chromium, wait_member_count
from tests.support.processes import RoomkeyProcess, start_roomkey
from tests.support.servers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def roomkey_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoomkeyProcess]:
    log = tmp_path_factory.mktemp("roomkey") / "roomkey.log"
    server = start_roomkey(free_port(), log)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with running_chromium() as browser:
        yield browser


@pytest.fixture
def pages(browser: Browser, roomkey_dev: RoomkeyProcess) -> Iterator[list[Page]]:
    opened: list[Page] = []
    yield opened
    for page in opened:
        page.context.close()


def test_private_channels_presence_chat_and_typing(
    browser: Browser, roomkey_dev: RoomkeyProcess, pages: list[Page]
) -> None:
    alice_page = open_demo(browser, roomkey_dev.url + "/")
    bob_page = open_demo(browser, roomkey_dev.url + "/")
    pages += [alice_page, bob_page]
    alice = log_in(alice_page, "Alice")
    bob = log_in(bob_page, "Bob")
    assert alice["user_id"] != bob["user_id"]

    # Each page joined its own private channel, authorized for its own socket id.
    assert alice_page.text_content("#private-name") == f"private-user-{alice['user_id']}"
    assert bob_page.text_content("#private-name") == f"private-user-{bob['user_id']}"

    # Presence: both see both, with the names the server took from the sessions.
    wait_member_count(alice_page, 2)
    wait_member_count(bob_page, 2)
    assert member_ids(alice_page) == sorted([alice["user_id"], bob["user_id"]])
    assert "Bob" in alice_page.text_content("#members")  # type: ignore[operator]

    # A wave is published on Bob's private channel: Bob sees it, Alice does not.
    alice_page.click(f"#members li[data-user-id='{bob['user_id']}'] button")
    bob_page.wait_for_selector("#notices li")
    assert bob_page.text_content("#notices") == f"Alice ({alice['user_id']}) waved at you"
    assert alice_page.eval_on_selector_all("#notices li", "items => items.length") == 0

    # Typing indicators are client events; Alice sees Bob's, named from presence.
    bob_page.type("#text", "hello")
    alice_page.wait_for_function("document.getElementById('typing').textContent === 'Bob typing…'")

    # Chat is stamped by the server: Bob's page posts, Alice sees "Bob".
    bob_page.press("#text", "Enter")
    alice_page.wait_for_selector("#messages li:has-text('hello')")
    assert alice_page.text_content("#messages li:last-child") == "Bob: hello"

    # A name or user id the client claims is ignored: the session decides.
    status = bob_page.evaluate(
        """async () => (await fetch('/demo/chat', {method: 'POST',
             headers: {'Content-Type': 'application/json'},
             body: JSON.stringify({channel: 'presence-room-lobby', text: 'I am Mallory',
                                   name: 'Mallory', user_id: 'mallory'})})).status"""
    )
    assert status == 200
    alice_page.wait_for_selector("#messages li:has-text('I am Mallory')")
    assert alice_page.text_content("#messages li:last-child") == "Bob: I am Mallory"

    # Leaving a room (unsubscribe) and closing a tab both remove the member.
    bob_page.fill("#room-name", "elsewhere")
    bob_page.click("#join button")
    bob_page.wait_for_selector("#room-status[data-ok=true]")
    assert bob_page.text_content("#room-channel") == "presence-room-elsewhere"
    wait_member_count(alice_page, 1)
    assert member_ids(alice_page) == [alice["user_id"]]
    bob_page.fill("#room-name", "lobby")
    bob_page.click("#join button")
    wait_member_count(alice_page, 2)
    bob_page.close()
    wait_member_count(alice_page, 1)
    assert member_ids(alice_page) == [alice["user_id"]]


def test_forged_subscriptions_are_refused(
    browser: Browser, roomkey_dev: RoomkeyProcess, pages: list[Page]
) -> None:
    alice_page = open_demo(browser, roomkey_dev.url + "/")
    bob_page = open_demo(browser, roomkey_dev.url + "/")
    pages += [alice_page, bob_page]
    log_in(alice_page, "Alice")
    bob = log_in(bob_page, "Bob")
    target = f"private-user-{bob['user_id']}"

    # Through the client: the authorize endpoint says 403, the channel reports it.
    refused = alice_page.evaluate(
        """async (name) => {
             const ch = demo.rk.subscribe(name);
             try { await ch.ready; return 'joined'; }
             catch (e) { return {status: e.status, code: e.code, subscribed: ch.subscribed}; }
           }""",
        target,
    )
    assert refused == {"status": 403, "code": 4009, "subscribed": False}

    # From the console, straight on the socket: a made-up signature, then none at all.
    forged = alice_page.evaluate(
        """async (name) => {
             const s = demo.rk.socket.timeout(3000);
             const madeUp = await s.emitWithAck('subscribe',
               {channel: name, auth: 'roomkey-dev-key:' + 'ab'.repeat(32)});
             const bare = await s.emitWithAck('subscribe', {channel: name});
             return [madeUp, bare];
           }""",
        target,
    )
    assert [answer["error"]["code"] for answer in forged] == [4009, 4009]

    # A signature Alice got for her own channel does not open Bob's.
    stolen = alice_page.evaluate(
        """async (name) => {
             const body = new URLSearchParams({socket_id: demo.rk.socketId,
               channel_name: 'private-user-' + demo.me.user_id});
             const grant = await (await fetch('/pusher/auth', {method: 'POST', body})).json();
             return demo.rk.socket.timeout(3000).emitWithAck('subscribe',
               {channel: name, auth: grant.auth});
           }""",
        target,
    )
    assert stolen["error"]["code"] == 4009

    # Bob's channel still reaches Bob only; Alice's connection is unharmed.
    alice_page.click(f"#members li[data-user-id='{bob['user_id']}'] button")
    bob_page.wait_for_selector("#notices li")
    assert alice_page.eval_on_selector_all("#notices li", "items => items.length") == 0
    assert alice_page.text_content("#state") == "connected"

    # Client events are checked too: a name without client- is refused with 4301.
    code = alice_page.evaluate(
        """async () => {
             try { await demo.room.trigger('typing', {}); return 'sent'; }
             catch (e) { return e.code; }
           }"""
    )
    assert code == 4301


def test_demo_page_is_readable_on_a_phone(
    browser: Browser, roomkey_dev: RoomkeyProcess, pages: list[Page]
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    pages.append(page)
    page.goto(roomkey_dev.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    log_in(page, "Phone")
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow == 0
    boxes = [page.locator(sel).bounding_box() for sel in ("#whoami", "#room", "#chat")]
    # One column: the cards are stacked, each as wide as the screen allows.
    assert all(box is not None and box["width"] <= 390 for box in boxes)
    assert boxes[0] is not None and boxes[1] is not None
    assert boxes[1]["y"] > boxes[0]["y"]


def test_client_api_in_the_page(
    browser: Browser, roomkey_dev: RoomkeyProcess, pages: list[Page]
) -> None:
    alice_page = open_demo(browser, roomkey_dev.url + "/")
    bob_page = open_demo(browser, roomkey_dev.url + "/")
    pages += [alice_page, bob_page]
    alice = log_in(alice_page, "Alice")
    log_in(bob_page, "Bob")
    wait_member_count(bob_page, 2)

    # Client event data that is JSON text is parsed, other text is kept, objects pass;
    # the sender's verified user id comes as metadata.
    bob_page.evaluate(
        """() => { window.notes = [];
             demo.room.bind('client-note', (data, meta) => window.notes.push([data, meta])); }"""
    )
    alice_page.evaluate(
        """async () => {
             for (const data of ['{"a":1}', 'just text', {b: 2}])
               await demo.room.trigger('client-note', data);
           }"""
    )
    bob_page.wait_for_function("window.notes.length === 3")
    meta = {"user_id": alice["user_id"]}
    assert bob_page.evaluate("window.notes") == [
        [{"a": 1}, meta],
        ["just text", meta],
        [{"b": 2}, meta],
    ]

    # A public channel needs no authorize call; pusher-js event names work too.
    public = alice_page.evaluate(
        """async () => {
             let calls = 0, alias = false;
             demo.rk.connection.bind('authorize_request', () => { calls += 1; });
             const ch = demo.rk.subscribe('news');
             ch.bind('pusher:subscription_succeeded', () => { alias = true; });
             await ch.ready;
             return {calls, alias, subscribed: ch.subscribed};
           }"""
    )
    assert public == {"calls": 0, "alias": True, "subscribed": True}

    # unsubscribe leaves the presence channel: Bob sees Alice go.
    alice_page.evaluate("() => demo.rk.unsubscribe('presence-room-lobby')")
    wait_member_count(bob_page, 1)
    assert alice_page.evaluate("demo.rk.channel('presence-room-lobby')") is None

    # Log out: the session ends on the server and the socket closes.
    assert alice_page.evaluate("demo.rk.connection.state") == "connected"
    alice_page.evaluate("window.oldClient = demo.rk")
    alice_page.click("#logout")
    alice_page.wait_for_selector("#login:not([hidden])")
    assert alice_page.evaluate("window.oldClient.connection.state") == "disconnected"
    me_status = alice_page.evaluate("async () => (await fetch('/demo/me')).status")
    assert me_status == 401
