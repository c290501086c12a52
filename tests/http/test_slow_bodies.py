"""Slow bodies on the authorize endpoints and the REST API, over raw TCP on loopback: a body
that does not all arrive within ``server.request_body_timeout_seconds`` is answered 408 and
its connection closed, however steadily it trickles; the REST API refuses what its query
string can refuse before it reads any body; and the setting is validated like any other.

Counts are small and the deadline short (``DEADLINE``); every wait is on a condition with a
generous bound (``ANSWER_WITHIN``), never on a guessed sleep."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

import pytest

from roomkey.config import ConfigError, ServerSettings, parse_settings
from tests.support.apps import APP_ID, OTHER_APP, make_settings, make_token
from tests.support.authorize import post_auth
from tests.support.metrics import sample, scrape
from tests.support.rest import sign, signed_post
from tests.support.servers import Server, StartServer

DEADLINE = 0.5  # server.request_body_timeout_seconds in these tests
ANSWER_WITHIN = 15.0  # the bound on waiting for an answer that should come after DEADLINE
# aiohttp, when a handler answers before the body has all arrived, reads (and discards) the
# rest for up to 10 s before closing; roomkey closes at once after a 408. Waiting for the
# close at most this long tells the two apart.
CLOSED_WITHIN = 5.0
TRICKLE_EVERY = 0.1  # seconds between two trickled bytes: far more often than any deadline
EVENTS = f"/apps/{APP_ID}/events"
AUTH_BODY = b"socket_id=1234.5678&channel_name=private-user-7"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    """One HTTP/1.1 response with a Content-Length, JSON body decoded when it is JSON."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    raw = await reader.readexactly(int(headers.get("content-length", "0")))
    try:
        body: Any = json.loads(raw)
    except ValueError:
        body = raw
    return Answer(status, headers, body)


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """True once the server has closed the connection (EOF, or a reset when it closed with a
    trickled byte still unread), within ``CLOSED_WITHIN``; False if it is still open then."""
    try:
        async with asyncio.timeout(CLOSED_WITHIN):
            while True:
                if not await reader.read(1024):
                    return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


class SlowRequest:
    """A raw request whose headers (and ``first`` body bytes) are sent at once, and whose
    declared body then trickles, one byte every ``TRICKLE_EVERY`` seconds, never completing,
    until the server answers or closes (or ``ANSWER_WITHIN`` passes)."""

    def __init__(self, server: Server, method: str, target: str, headers: dict[str, str]) -> None:
        self.server = server
        self.method = method
        self.target = target
        self.headers = headers
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.trickler: asyncio.Task[None] | None = None

    async def send(self, length: int, first: bytes = b"", *, trickle: bool = True) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.server.port)
        fields = {"Host": f"127.0.0.1:{self.server.port}", **self.headers}
        fields["Content-Length"] = str(length)
        head = f"{self.method} {self.target} HTTP/1.1\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
        self.writer.write(head.encode() + first)
        await self.writer.drain()
        if trickle:
            self.trickler = asyncio.create_task(self._trickle(length - len(first) - 1))

    async def _trickle(self, count: int) -> None:
        assert self.writer is not None
        with contextlib.suppress(ConnectionError):
            for _ in range(count):
                await asyncio.sleep(TRICKLE_EVERY)
                if self.writer.is_closing():
                    return
                self.writer.write(b"x")
                await self.writer.drain()

    async def answer(self) -> Answer:
        assert self.reader is not None
        async with asyncio.timeout(ANSWER_WITHIN):
            return await read_answer(self.reader)

    async def closed(self) -> bool:
        assert self.reader is not None
        return await closed_by_server(self.reader)

    async def close(self) -> None:
        if self.trickler is not None:
            self.trickler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.trickler
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError):
                await self.writer.wait_closed()


@pytest.fixture
async def slow() -> Any:
    """``slow(server, method, target, headers)`` -> a ``SlowRequest``, closed at teardown."""
    made: list[SlowRequest] = []

    def make(server: Server, method: str, target: str, headers: dict[str, str]) -> SlowRequest:
        request = SlowRequest(server, method, target, headers)
        made.append(request)
        return request

    yield make
    for request in made:
        await request.close()


async def deadline_server(start_server: StartServer, **rates: int) -> Server:
    settings = make_settings()
    settings = replace(
        settings,
        server=replace(settings.server, request_body_timeout_seconds=DEADLINE),
        rate_limits=replace(settings.rate_limits, **rates),
    )
    return await start_server(settings)


def authorize_headers() -> dict[str, str]:
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": f"Bearer {make_token('7')}",
    }


def signed_target(path: str, body: bytes, **kw: Any) -> str:
    query = sign("POST", path, body, **kw)
    return path + "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())


def assert_timed_out(answer: Answer) -> None:
    assert answer.status == 408, answer
    assert answer.body["error"]["code"] == 4100, answer
    assert "request_body_timeout_seconds" in answer.body["error"]["message"]
    assert answer.headers.get("connection", "").lower() == "close"


# -- the authorize endpoints ---------------------------------------------------------------


async def test_a_trickled_authorize_body_is_408_and_the_connection_closed(
    start_server: StartServer, slow: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="roomkey")
    server = await deadline_server(start_server)
    request = slow(server, "POST", "/pusher/auth", authorize_headers())
    await request.send(len(AUTH_BODY) + 200, AUTH_BODY[:10])
    assert_timed_out(await request.answer())
    assert await request.closed(), "the connection stayed open after the 408"
    refusals = [
        getattr(r, "roomkey_fields", {}) for r in caplog.records if r.msg == "refused authorize"
    ]
    assert [f.get("reason") for f in refusals] == ["request_timeout"], refusals
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    # The endpoint itself is unaffected.
    status, body, _ = await post_auth(server, data=AUTH_BODY, headers=authorize_headers())
    assert status == 200, body


async def test_many_slow_authorize_clients_are_all_answered_and_dropped(
    start_server: StartServer, slow: Any
) -> None:
    server = await deadline_server(start_server)
    crowd = [slow(server, "POST", "/pusher/user-auth", authorize_headers()) for _ in range(20)]
    await asyncio.gather(*(r.send(4000, b"socket_id=1") for r in crowd))
    for answer in await asyncio.gather(*(r.answer() for r in crowd)):
        assert_timed_out(answer)
    assert all(await asyncio.gather(*(r.closed() for r in crowd)))
    text = await scrape(server)
    counted = sample(
        text, "roomkey_authorize_results_total", endpoint="user", result="request_timeout"
    )
    assert counted == 20
    status, body, _ = await post_auth(server, data=AUTH_BODY, headers=authorize_headers())
    assert status == 200, body


async def test_headers_alone_then_silence_is_408_too(start_server: StartServer, slow: Any) -> None:
    # No body byte at all after the headers: the same deadline, not aiohttp's keep-alive.
    server = await deadline_server(start_server)
    request = slow(server, "POST", "/pusher/auth", authorize_headers())
    await request.send(len(AUTH_BODY), trickle=False)
    assert_timed_out(await request.answer())
    assert await request.closed()


# -- the REST API --------------------------------------------------------------------------


def big_publish() -> bytes:
    """A valid publish of about 900 KB (under the REST body limit of the test app)."""
    events = [{"name": "e", "channel": "c", "data": "x" * 90_000}] * 10
    return json.dumps({"batch": events}).encode()


async def test_a_signed_rest_post_claiming_900_kb_that_trickles_is_408(
    start_server: StartServer, slow: Any
) -> None:
    server = await deadline_server(start_server)
    body = big_publish()
    assert len(body) > 900_000
    path = f"/apps/{APP_ID}/batch_events"
    request = slow(server, "POST", signed_target(path, body), {"Content-Type": "application/json"})
    await request.send(len(body), body[:1000])
    assert_timed_out(await request.answer())
    assert await request.closed(), "the connection stayed open after the 408"
    text = await scrape(server)
    route = "/apps/{app_id}/batch_events"
    assert sample(text, "roomkey_rest_requests_total", route=route, status="408") == 1
    answer = await signed_post(server, EVENTS, {"name": "e", "channel": "c", "data": "{}"})
    assert answer.status == 200, answer


def _unsigned(tamper: str) -> tuple[str, str]:
    """A POST target (path and query) whose query alone is enough to refuse it."""
    body = big_publish()
    path = EVENTS
    kw: dict[str, Any] = {}
    if tamper == "stale_timestamp":
        kw = {"timestamp": int(time.time()) - 601}
    if tamper == "unknown_key":
        kw = {"key": "nobody", "secret": "whatever-secret-000"}
    if tamper == "other_apps_key":
        kw = {"key": OTHER_APP.key, "secret": OTHER_APP.secret}
    if tamper == "no_body_md5":
        kw = {"with_md5": False}
    query = sign("POST", path, body, **kw)
    if tamper == "no_signature":
        del query["auth_signature"]
    if tamper == "wrong_signature":
        query["auth_signature"] = "0" * 64
    if tamper == "bad_version":
        query["auth_version"] = "2.0"
    return path, "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())


@pytest.mark.parametrize(
    "tamper",
    [
        "no_signature",
        "wrong_signature",
        "stale_timestamp",
        "unknown_key",
        "other_apps_key",
        "no_body_md5",
        "bad_version",
    ],
)
async def test_rest_refuses_from_the_query_before_reading_the_body(
    start_server: StartServer, slow: Any, tamper: str
) -> None:
    # Headers only, then silence: the 401 can only come from the query string.
    server = await deadline_server(start_server)
    path, query = _unsigned(tamper)
    request = slow(server, "POST", f"{path}?{query}", {"Content-Type": "application/json"})
    await request.send(900_000, trickle=False)
    answer = await request.answer()
    assert answer.status == 401, answer
    assert answer.body["error"]["code"] == 4009


async def test_rest_over_its_rate_is_refused_before_reading_the_body(
    start_server: StartServer, slow: Any
) -> None:
    server = await deadline_server(start_server, rest_per_second_per_app=1)
    body = big_publish()
    statuses = []
    for _ in range(3):  # a window is one second from its first hit: retried if one passed
        first = await signed_post(server, EVENTS, {"name": "e", "channel": "c", "data": "{}"})
        assert first.status in (200, 429), first
        request = slow(
            server, "POST", signed_target(EVENTS, body), {"Content-Type": "application/json"}
        )
        await request.send(len(body), trickle=False)
        answer = await request.answer()
        statuses.append(answer.status)
        if answer.status == 429:
            assert answer.headers.get("retry-after"), answer
            break
    # Over the rate, answered without its body (had it been awaited: 408 after the deadline).
    assert 429 in statuses, statuses


async def test_rest_signed_and_complete_is_read_and_published(
    start_server: StartServer, slow: Any
) -> None:
    # The control: the same raw client, the whole body sent in pieces within the deadline.
    server = await deadline_server(start_server)
    body = json.dumps({"name": "e", "channel": "c", "data": "{}"}).encode()
    request = slow(
        server, "POST", signed_target(EVENTS, body), {"Content-Type": "application/json"}
    )
    await request.send(len(body), body[:5], trickle=False)
    assert request.writer is not None
    request.writer.write(body[5:])
    answer = await request.answer()
    assert (answer.status, answer.body) == (200, {}), answer


# -- the setting ---------------------------------------------------------------------------


def test_the_deadline_setting_has_a_default_and_is_validated_with_its_path() -> None:
    app = {"id": "1", "key": "k", "secret": "s" * 16}
    assert ServerSettings().request_body_timeout_seconds == 5.0
    parsed = parse_settings({"apps": [app], "server": {"request_body_timeout_seconds": 2.5}})
    assert parsed.server.request_body_timeout_seconds == 2.5
    for bad, message in [(0, "must be at least 0.05"), ("5", "must be a number")]:
        with pytest.raises(ConfigError) as err:
            parse_settings({"apps": [app], "server": {"request_body_timeout_seconds": bad}})
        assert f"server.request_body_timeout_seconds: {message}" in err.value.errors
