"""Log records as roomkey writes them, without a server: one line each, a library's record
without its exception text, roomkey's own with its frames, untrusted values escaped, floods
written once with a count (``RepeatFilter``), loop exceptions and Python warnings told apart.
What a server logs is in tests/http/test_logs.py and tests/sockets/test_logs.py."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import warnings
from collections.abc import Iterator

from aiohttp import web_protocol
from aiohttp.http_exceptions import LineTooLong

from roomkey import process
from roomkey.http import bad_requests
from roomkey.logs import (
    JsonFormatter,
    RepeatFilter,
    SafeRecords,
    TextFormatter,
    clean,
    log_event,
)
from tests.support.hostile_http import (
    COOKIE_MARKER,
)
from tests.support.waiting import wait_for_condition

# -- requests aiohttp cannot parse, library records, loop exceptions, flood counts ------------


def test_bad_request_answer_is_installed_on_this_aiohttp() -> None:
    """The shape ``bad_requests`` relies on holds for the aiohttp in use (else it would
    leave aiohttp's answer, which quotes the header, in place)."""
    assert bad_requests.install()
    assert getattr(web_protocol.RequestHandler.handle_error, "roomkey_answers_bad_requests", False)


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
    assert first["at"].startswith("unit/test_logs.py:")
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
    assert 'at="unit/test_logs.py:' in line and " lookup" in line
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
        await wait_for_condition(lambda: len(out.lines) >= 2, "the count", timeout=10)
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
    assert tasks[0]["at"].startswith("unit/test_logs.py:")
    callbacks = [r for r in lines if r["what"] == "Exception in callback"]
    assert len(callbacks) == 1 and callbacks[0]["error"] == "ZeroDivisionError"
    assert COOKIE_MARKER not in "\n".join(out.lines)


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


# -- flood counts and escaping -------------------------------------------------------------


def test_repeat_filter_counts_what_it_suppressed() -> None:
    now = [0.0]
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("roomkey.test-repeat")
    logger.propagate = False
    handler = Keep()
    handler.addFilter(RepeatFilter(window=10.0, clock=lambda: now[0]))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        for _ in range(50):
            log_event(logger, logging.INFO, "refused x", repeat_key="x:4009", socket_id="1.1")
        log_event(logger, logging.INFO, "refused y", repeat_key="y:4100")
        log_event(logger, logging.INFO, "connection open", socket_id="1.1")
        log_event(logger, logging.INFO, "connection open", socket_id="1.1")
        now[0] = 11.0
        log_event(logger, logging.INFO, "refused x", repeat_key="x:4009", socket_id="1.2")
    finally:
        logger.removeHandler(handler)
    msgs = [r.getMessage() for r in records]
    assert msgs == ["refused x", "refused y", "connection open", "connection open", "refused x"]
    assert records[-1].roomkey_fields["repeated"] == "49"  # type: ignore[attr-defined]


def test_clean_escapes_and_truncates() -> None:
    assert clean("a\nb\x1b") == "a\\nb\\x1b"
    assert len(clean("x" * 10_000)) < 300
