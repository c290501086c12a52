"""No secret, token, signature, cookie or channel_data ever reaches a log line."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import json
import logging
import time
import warnings
from collections.abc import Iterator

import aiohttp
import jwt as pyjwt
import pytest
from aiohttp import web_protocol
from aiohttp.http_exceptions import LineTooLong

from roomkey import process
from roomkey.http import bad_requests
from roomkey.logs import (
    JsonFormatter,
    RepeatFilter,
    SafeRecords,
    TextFormatter,
    log_event,
)
from tests.authorize_client import post_auth
from tests.conftest import APP_SECRET, JWT_SECRET, ConnectClient, Server, make_token
from tests.handshake_client import refused
from tests.hostile_http import (
    COOKIE_MARKER,
    TOKEN_MARKER,
    assert_roomkey_refusal,
    hostile_requests,
    padded_token,
    send_raw,
)
from tests.pusher_helpers import eventually


async def test_refusals_and_successes_log_no_secrets(
    server: Server, connect: ConnectClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = make_token("7", name="Ada")
    bad_token = make_token("7", expires_in=-10)
    sessions = server.runtime.sessions
    assert sessions is not None
    cookie = await sessions.save({"user_id": "7"})
    client = await connect(server, token=token, headers={"Cookie": f"AIOHTTP_SESSION={cookie}"})
    status, body, _ = await post_auth(
        server, {"socket_id": client.socket_id, "channel_name": "presence-x"}, token=token
    )
    assert status == 200
    secrets = [
        token,
        bad_token,
        cookie,
        body["auth"],
        body["auth"].split(":")[1],
        body["channel_data"],
    ]
    await client.subscribe("presence-x", auth=body["auth"], channel_data=body["channel_data"])
    # Refused: a signature for a channel it does not match, altered channel_data, bad tokens.
    await client.subscribe("presence-y", auth=body["auth"], channel_data=body["channel_data"])
    await client.subscribe("private-z", auth=body["auth"])
    await post_auth(server, {"socket_id": "1.2", "channel_name": "private-user-7"}, token=bad_token)
    await post_auth(
        server,
        {"socket_id": "1.2", "channel_name": "private-user-7"},
        cookies={"AIOHTTP_SESSION": cookie + "x"},
    )
    await refused(server, {"key": "test-key", "token": bad_token})
    await client.client.disconnect()
    assert any("refused" in r.getMessage() for r in caplog.records)
    for formatter in (TextFormatter(), JsonFormatter()):
        text = "\n".join(formatter.format(r) for r in caplog.records)
        for secret in [*secrets, APP_SECRET, JWT_SECRET]:
            assert secret not in text


# -- requests aiohttp cannot parse, library records, loop exceptions, flood counts ------------


def test_bad_request_answer_is_installed_on_this_aiohttp() -> None:
    """The shape ``bad_requests`` relies on holds for the aiohttp in use (else it would
    leave aiohttp's answer, which quotes the header, in place)."""
    assert bad_requests.install()
    assert getattr(web_protocol.RequestHandler.handle_error, "roomkey_answers_bad_requests", False)


async def test_malformed_requests_are_refused_counted_and_quote_nothing(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = padded_token(JWT_SECRET)
    requests = hostile_requests(token)
    for request in requests:
        answer = await send_raw(server.port, request)
        assert_roomkey_refusal(answer)
        for secret in (COOKIE_MARKER, TOKEN_MARKER, token[:40]):
            assert secret.encode() not in answer.raw
    refused = [r for r in caplog.records if r.getMessage() == "refused http request"]
    assert refused and all(r.name == "roomkey" for r in refused)
    assert not [r for r in caplog.records if r.exc_info and r.name.startswith("aiohttp")]
    for formatter in (TextFormatter(), JsonFormatter()):
        text = "\n".join(formatter.format(r) for r in caplog.records)
        for secret in (COOKIE_MARKER, TOKEN_MARKER, token[:40]):
            assert secret not in text
    metrics = server.runtime.metrics.render().decode()
    assert 'roomkey_refusals_total{reason="header_too_large",what="http request"} 3.0' in metrics
    assert 'roomkey_refusals_total{reason="malformed_http",what="http request"} 3.0' in metrics
    # The server goes on answering.
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/healthz") as resp:
        assert resp.status == 200


class Collect(logging.Handler):
    """Formats what reaches it, through roomkey's filters, as ``roomkey serve`` does."""

    def __init__(self, formatter: logging.Formatter, window: float = 10.0) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(formatter)
        self.repeats = RepeatFilter(window=window, emit=self.handle)
        self.addFilter(SafeRecords())
        self.addFilter(self.repeats)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextlib.contextmanager
def collecting(name: str, formatter: logging.Formatter, window: float = 10.0) -> Iterator[Collect]:
    logger = logging.getLogger(name)
    handler = Collect(formatter, window)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def test_library_records_are_one_line_without_their_exception_text() -> None:
    secret = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    with collecting("somelib.server", JsonFormatter()) as out:
        log = logging.getLogger("somelib.server")
        log.info("received %s", secret)  # a library's INFO: never written
        try:
            raise LineTooLong(f"Cookie: session={COOKIE_MARKER}".encode(), 8190)
        except LineTooLong:
            log.exception("Error handling request from %s", "127.0.0.1")
        log.warning("bad\nline with %s", secret)
    assert len(out.lines) == 2
    first, second = (json.loads(line) for line in out.lines)
    assert first["msg"] == "Error handling request from 127.0.0.1"
    assert first["error"] == "aiohttp.http_exceptions.LineTooLong"
    assert first["at"].startswith("tests/test_logs.py:")
    assert "trace" not in first and "exc" not in first
    assert second["msg"] == "bad\\nline with <jwt>"
    text = "\n".join(out.lines)
    assert COOKIE_MARKER not in text and secret not in text and "Traceback" not in text


def test_own_exceptions_are_one_line_with_their_frames() -> None:
    def lookup(table: dict[str, str]) -> str:
        return table["missing " + COOKIE_MARKER]

    with collecting("roomkey.test-own", TextFormatter()) as out:
        try:
            lookup({})
        except KeyError:
            logging.getLogger("roomkey.test-own").exception("socketio %s failed", "subscribe")
    [line] = out.lines
    assert "socketio subscribe failed error=KeyError at=" in line
    assert 'at="tests/test_logs.py:' in line and " lookup" in line
    assert "trace=" in line and "test_own_exceptions_are_one_line_with_their_frames" in line
    assert COOKIE_MARKER not in line


def test_repeat_filter_writes_the_count_when_the_window_ends() -> None:
    now = [0.0]
    written: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            written.append(record)

    handler = Keep()
    repeats = RepeatFilter(window=10.0, clock=lambda: now[0], emit=handler.handle)
    handler.addFilter(repeats)
    logger = logging.getLogger("roomkey.test-repeat-emit")
    logger.propagate = False
    logger.addHandler(handler)

    def bad_packet(i: int) -> None:
        logger.warning("bad packet %d", i)  # one call site: one kind of line

    try:
        for i in range(25):
            bad_packet(i)
        now[0] = 11.0
        repeats.flush()  # the count, as a copy of the latest line; a new window starts
        bad_packet(99)  # the flood goes on: counted in the new window
        bad_packet(100)
        now[0] = 30.0
        bad_packet(101)  # the window's count first, then this line
        bad_packet(102)
        repeats.flush(everything=True)  # at shutdown
    finally:
        logger.removeHandler(handler)
    seen = [(r.getMessage(), getattr(r, "roomkey_fields", {}).get("repeated")) for r in written]
    assert seen == [
        ("bad packet 0", None),
        ("bad packet 24", "24"),
        ("bad packet 100", "2"),
        ("bad packet 101", None),
        ("bad packet 102", "1"),
    ]


async def test_repeat_filter_counts_are_written_by_a_timer_on_the_loop() -> None:
    with collecting("roomkey.test-timer", JsonFormatter(), window=0.2) as out:
        for _ in range(40):
            log_event(
                logging.getLogger("roomkey.test-timer"),
                logging.INFO,
                "refused thing",
                repeat_key="thing:4100",
            )
        await eventually(lambda: len(out.lines) >= 2, "the count", attempts=200)
    lines = [json.loads(line) for line in out.lines]
    assert [r.get("repeated") for r in lines] == [None, "39"]


def test_loop_exceptions_are_one_flood_controlled_line() -> None:
    """On the loop `roomkey serve` runs, an exception nobody handled is one line, without
    its message or a traceback, and a flood of them one line with a count."""

    async def boom() -> None:
        raise ValueError(f"a message quoting {COOKIE_MARKER}")

    async def unhandled() -> None:
        for _ in range(20):
            task = asyncio.get_running_loop().create_task(boom())
            await asyncio.wait([task])
            del task  # never retrieved: asyncio reports it when the task is collected
            gc.collect()
        asyncio.get_running_loop().call_soon(lambda: 1 / 0)
        await asyncio.sleep(0)

    loop = process.new_event_loop()
    try:
        with collecting("roomkey.loop", JsonFormatter()) as out:
            loop.run_until_complete(unhandled())
            out.repeats.flush(everything=True)
    finally:
        loop.close()
    lines = [json.loads(line) for line in out.lines]
    tasks = [r for r in lines if r["what"] == "Task exception was never retrieved"]
    assert [r.get("repeated") for r in tasks] == [None, "19"]
    assert tasks[0]["error"] == "ValueError" and tasks[0]["coroutine"].endswith("boom")
    assert tasks[0]["at"].startswith("tests/test_logs.py:")
    callbacks = [r for r in lines if r["what"] == "Exception in callback"]
    assert len(callbacks) == 1 and callbacks[0]["error"] == "ZeroDivisionError"
    assert COOKIE_MARKER not in "\n".join(out.lines)


async def test_bad_tokens_are_refused_without_being_quoted(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """roomkey's own JWT paths: the refusal names what was wrong, never the token."""
    caplog.set_level(logging.DEBUG)

    def b64(value: object) -> str:
        raw = json.dumps(value).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    forged = f"{b64({'alg': 'none', 'kid': TOKEN_MARKER})}.{b64({'sub': TOKEN_MARKER})}."
    tokens = [
        f"not-a-jwt-{TOKEN_MARKER}",
        f"{b64({'alg': 'HS256'})}.{TOKEN_MARKER}.{TOKEN_MARKER}",
        forged,
        make_token(TOKEN_MARKER, expires_in=-100),
        make_token(TOKEN_MARKER, secret="another-secret-0123456789-0123456789"),
        pyjwt.encode({"exp": int(time.time()) + 60, "who": TOKEN_MARKER}, JWT_SECRET),
        "x" * 8000 + TOKEN_MARKER,
    ]
    for token in tokens:
        status, body, _ = await post_auth(
            server, {"socket_id": "1.2", "channel_name": "private-user-7"}, token=token
        )
        assert status == 401, body
        assert TOKEN_MARKER not in json.dumps(body) and token not in json.dumps(body)
    await refused(server, {"key": "test-key", "token": forged})
    for formatter in (TextFormatter(), JsonFormatter()):
        text = "\n".join(formatter.format(r) for r in caplog.records)
        assert TOKEN_MARKER not in text
        assert not [t for t in tokens if t in text]


def test_python_warnings_are_told_apart() -> None:
    """Every warning is logged from one line of ``logging``: they are flood-controlled by
    their text, not collapsed into one."""
    with collecting("py.warnings", JsonFormatter()) as out:
        logging.captureWarnings(True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always")
                for _ in range(5):
                    warnings.warn("old setting a", DeprecationWarning, stacklevel=1)
                    warnings.warn("old setting b", DeprecationWarning, stacklevel=1)
        finally:
            logging.captureWarnings(False)
        out.repeats.flush(everything=True)
    lines = [json.loads(line) for line in out.lines]
    assert [("setting a" in r["msg"], r.get("repeated")) for r in lines] == [
        (True, None),
        (False, None),
        (True, "4"),
        (False, "4"),
    ]
    assert all("\n" not in line for line in out.lines)
