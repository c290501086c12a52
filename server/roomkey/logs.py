"""Structured log lines: ``event key=value ...`` as text, or one JSON object per line.

Callers pass only safe fields (app id, socket id, reason, address); untrusted values are
escaped and truncated here. Secrets, tokens, signatures, cookies and channel_data are never
passed in. ``configure_logging`` is called once by ``roomkey serve``; an application that
embeds roomkey keeps its own logging configuration (``fallback_logging``).

Through roomkey's handler every record is one line, whoever logged it (``SafeRecords``):

- a library's record (any logger outside ``roomkey``: engineio, socketio, aiohttp, asyncio,
  py.warnings, ...) below WARNING is not written: python-engineio's INFO lines quote whole
  packets, handshake tokens included. Above, its message is rendered, escaped, truncated, and
  anything shaped like a JWT is replaced by ``<jwt>``;
- an exception is written as fields, never as a traceback: ``error`` (its type), ``at`` (the
  innermost frame) and, for roomkey's own records, ``trace`` (the frames, innermost first).
  Never its message: exception messages quote the input that caused them (aiohttp's parser
  errors quote the first 100 bytes of the header they refused, a session cookie included);
- identical lines are flood-controlled (``RepeatFilter``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
import sys
import threading
import time
import traceback
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

MAX_VALUE_CHARS = 200
MAX_TRACE_FRAMES = 25
ROOMKEY_LOGGER = "roomkey"
# python-socketio's own level for these when told ``logger=False``: their warnings repeat
# what roomkey logs itself (a refused connection), their INFO lines quote whole packets.
LIBRARY_LEVELS = {"engineio.server": logging.ERROR, "socketio.server": logging.ERROR}

_JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*){1,2}")

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def clean(value: object) -> str:
    """A printable, bounded rendering of an untrusted value."""
    text = str(value)
    if len(text) > MAX_VALUE_CHARS:
        text = text[:MAX_VALUE_CHARS] + "..."
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


def one_line(text: str) -> str:
    """``text`` with line breaks and control characters escaped (not truncated)."""
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def is_own(logger_name: str) -> bool:
    """Whether ``logger_name`` is roomkey's (``roomkey`` or below it)."""
    return logger_name == ROOMKEY_LOGGER or logger_name.startswith(ROOMKEY_LOGGER + ".")


def log_event(
    logger: logging.Logger, level: int, event: str, *, repeat_key: str = "", **fields: Any
) -> None:
    """Log ``event`` with ``fields`` (escaped, truncated). Lines with the same non-empty
    ``repeat_key`` are flood-controlled by ``RepeatFilter``."""
    if not logger.isEnabledFor(level):
        return
    safe = {k: clean(v) for k, v in fields.items() if v is not None and v != ""}
    extra: dict[str, Any] = {"roomkey_fields": safe}
    if repeat_key:
        extra["roomkey_repeat_key"] = repeat_key
    logger.log(level, event, extra=extra)


def _frame_text(filename: str, lineno: int, function: str) -> str:
    """``package/module.py:line function``: the path from the top-level package on (else
    the file's folder and name)."""
    path = filename.replace("\\", "/")
    if "/site-packages/" in path:
        path = path.rsplit("/site-packages/", 1)[1]
    elif f"/{ROOMKEY_LOGGER}/" in path:
        path = ROOMKEY_LOGGER + "/" + path.rsplit(f"/{ROOMKEY_LOGGER}/", 1)[1]
    else:  # the standard library, a script: its folder and file
        path = "/".join(path.rsplit("/", 2)[-2:])
    return f"{path}:{lineno} {function}"


def exception_fields(exc_info: ExcInfo | tuple[None, None, None], *, own: bool) -> dict[str, str]:
    """An exception as log fields: ``error`` (its type), ``at`` (the innermost frame) and,
    with ``own``, ``trace`` (up to ``MAX_TRACE_FRAMES`` frames, innermost first). Source
    positions only: no message, no values, so nothing a client sent."""
    exc_type, _, tb = exc_info
    if exc_type is None:
        return {}
    module = exc_type.__module__
    name = exc_type.__qualname__ if module == "builtins" else f"{module}.{exc_type.__qualname__}"
    fields = {"error": name}
    frames: deque[str] = deque(maxlen=MAX_TRACE_FRAMES)
    for frame, lineno in traceback.walk_tb(tb):
        frames.append(_frame_text(frame.f_code.co_filename, lineno, frame.f_code.co_name))
    if frames:
        fields["at"] = frames[-1]
        if own and len(frames) > 1:
            fields["trace"] = " < ".join(reversed(frames))
    return fields


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a library's bad format arguments must not cost the line
        return str(record.msg)


class SafeRecords(logging.Filter):
    """Makes each record safe to write as one line (see the module's docstring). Records are
    changed in place, once: the message of a library's record is rendered and cleaned, an
    exception becomes fields. Put it first on a handler, before ``RepeatFilter``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "roomkey_safe", False):
            return True
        own = is_own(record.name)
        if not own:
            if record.levelno < logging.WARNING:
                return False
            record.msg = clean(_JWT_SHAPE.sub("<jwt>", _message(record)))
            record.args = None
        if record.exc_info:
            fields = dict(getattr(record, "roomkey_fields", None) or {})
            fields.update(exception_fields(record.exc_info, own=own))
            record.roomkey_fields = fields
            record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        record.roomkey_safe = True
        return True


@dataclass
class _Window:
    start: float
    suppressed: int = 0
    last: logging.LogRecord | None = None  # the latest suppressed record, for the summary


_repeat_filters: weakref.WeakSet[RepeatFilter] = weakref.WeakSet()


class RepeatFilter(logging.Filter):
    """A flood of identical lines is written once per ``window`` seconds with a count.

    Lines are identical when they carry the same ``repeat_key`` (refusals: what, code,
    reason) or, for warnings and errors without one, come from the same logger and the same
    line of code (a library's call site, however its message varies; Python warnings, all
    logged from one line, by their text). The first line passes;
    the rest within the window are counted, not written. The count is written as
    ``repeated=N`` (the lines suppressed): without ``emit``, on the first such line after the
    window; with ``emit`` (which writes a record), on a copy of the latest suppressed line (a
    summary: not itself an occurrence) when the window ends, by a timer on the running event
    loop (else before the next such line, or at ``flush``). A flood that goes on is then one
    line per window. Memory is bounded by ``max_keys``: past it the table is reset (worst
    case: one extra line per key, a count lost).
    """

    def __init__(
        self,
        window: float = 10.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        emit: Callable[[logging.LogRecord], object] | None = None,
    ) -> None:
        super().__init__()
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        self._emit = emit
        self._seen: dict[tuple[object, ...], _Window] = {}
        self._lock = threading.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        _repeat_filters.add(self)

    @staticmethod
    def _key(record: logging.LogRecord) -> tuple[object, ...] | None:
        key_text = getattr(record, "roomkey_repeat_key", None)
        if key_text:
            return (record.name, key_text)
        if record.levelno < logging.WARNING:
            return None
        if record.name == "py.warnings":  # one call site in logging for every warning
            return (record.name, str(record.msg), str(record.args))
        return (record.name, record.pathname, record.lineno)

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "roomkey_repeat_summary", False):
            return True
        key = self._key(record)
        if key is None:
            return True
        now = self._clock()
        summary: logging.LogRecord | None = None
        with self._lock:
            entry = self._seen.get(key)
            if entry is not None and now - entry.start < self.window:
                entry.suppressed += 1
                if self._emit is not None:
                    entry.last = record
                delay = entry.start + self.window - now
            else:
                if len(self._seen) >= self.max_keys:
                    self._seen.clear()
                self._seen[key] = _Window(now)
                if entry is not None and entry.suppressed:
                    if self._emit is not None and entry.last is not None:
                        summary = _summary(entry.last, entry.suppressed)
                    else:
                        _mark_repeated(record, entry.suppressed)
                delay = -1.0
        if delay < 0:
            if summary is not None and self._emit is not None:
                self._emit(summary)  # the window's count first, then this new line
            return True
        self._arm_timer(delay)
        return False

    def flush(self, *, everything: bool = False) -> None:
        """Write the count of every window that has ended (``everything``: of every window)
        with lines suppressed, as a copy of its latest suppressed line with ``repeated=N``.
        A window with lines suppressed starts again, so a flood that goes on stays one line
        per window; an ended window with none is forgotten."""
        if self._emit is None:
            return
        now = self._clock()
        summaries: list[logging.LogRecord] = []
        with self._lock:
            for key, entry in list(self._seen.items()):
                if not everything and now - entry.start < self.window:
                    continue
                if entry.suppressed and entry.last is not None:
                    summaries.append(_summary(entry.last, entry.suppressed))
                    self._seen[key] = _Window(now)
                else:
                    del self._seen[key]
            pending = [e.start for e in self._seen.values() if e.suppressed]
        for summary in summaries:
            self._emit(summary)
        if pending:
            self._arm_timer(min(pending) + self.window - now)

    def _arm_timer(self, delay: float) -> None:
        """Flush when the earliest window ends, on the running loop (none: at the next line
        or an explicit ``flush``)."""
        if self._emit is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        when = loop.time() + max(0.0, delay)
        timer = self._timer
        if timer is not None and self._timer_loop is loop and not timer.cancelled():
            if timer.when() <= when:
                return
            timer.cancel()
        self._timer_loop = loop
        self._timer = loop.call_at(when, self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer = None
        self.flush()


def _mark_repeated(record: logging.LogRecord, count: int) -> None:
    fields = dict(getattr(record, "roomkey_fields", None) or {})
    fields["repeated"] = str(int(count))
    record.roomkey_fields = fields


def _summary(record: logging.LogRecord, count: int) -> logging.LogRecord:
    summary = logging.makeLogRecord(dict(record.__dict__))
    summary.created = time.time()
    summary.msecs = (summary.created - int(summary.created)) * 1000
    summary.roomkey_repeat_summary = True
    _mark_repeated(summary, count)
    return summary


def flush_repeated() -> None:
    """Write every pending flood count now (at shutdown: nothing counted is lost)."""
    for repeat in list(_repeat_filters):
        repeat.flush(everything=True)


def _fields(record: logging.LogRecord) -> dict[str, str]:
    fields: dict[str, str] = dict(getattr(record, "roomkey_fields", None) or {})
    if record.exc_info:  # a record that did not go through SafeRecords
        fields.update(exception_fields(record.exc_info, own=is_own(record.name)))
    return fields


class TextFormatter(logging.Formatter):
    """``time level logger message key=value ...``, one line per record."""

    def format(self, record: logging.LogRecord) -> str:
        base = (
            f"{self.formatTime(record)} {record.levelname.lower()} {record.name} "
            f"{one_line(_message(record))}"
        )
        fields = _fields(record)
        if fields:
            base += " " + " ".join(
                f"{k}={json.dumps(v)}" if " " in v or '"' in v else f"{k}={v}"
                for k, v in fields.items()
            )
        return base


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts``, ``level``, ``logger``, ``msg`` and the fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(time.time(), 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": one_line(_message(record)),
        }
        out.update(_fields(record))
        return json.dumps(out, ensure_ascii=False)


class DropMessages(logging.Filter):
    """Drops records whose message contains one of ``fragments``: for a library's lines that
    roomkey replaces with its own structured, escaped line."""

    def __init__(self, *fragments: str) -> None:
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not any(f in message for f in self.fragments)


class _FloodControlledHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes its pending flood counts when it is closed."""

    def __init__(self, fmt: str) -> None:
        super().__init__(sys.stderr)
        self.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
        self.repeats = RepeatFilter(emit=self.handle)
        self.addFilter(SafeRecords())
        self.addFilter(self.repeats)

    def close(self) -> None:
        self.repeats.flush(everything=True)
        super().close()


def tame_libraries() -> None:
    """The loggers of the libraries roomkey creates servers of (``LIBRARY_LEVELS``): their
    level, unless someone configured it, and, on the loggers themselves (so whatever handler
    the application has), ``SafeRecords`` and a ``RepeatFilter``: a client's malformed
    packets cost one line per window there too, without a traceback. Idempotent."""
    for name, level in LIBRARY_LEVELS.items():
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(level)
        if not any(isinstance(f, SafeRecords) for f in logger.filters):
            logger.addFilter(SafeRecords())
            logger.addFilter(RepeatFilter(emit=logger.handle))


def configure_logging(fmt: str, level: str) -> None:
    """roomkey's handler (``fmt``: "text" or "json") on the root logger, for every logger of
    the process: roomkey's and the libraries' records alike go through ``SafeRecords`` and
    ``RepeatFilter``. Python warnings are logged (``py.warnings``) rather than printed."""
    root = logging.getLogger()
    root.handlers[:] = [_FloodControlledHandler(fmt)]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    tame_libraries()
    logging.captureWarnings(True)


def log_loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """An asyncio loop exception handler (``loop.set_exception_handler``): one line per
    exception nobody handled (a task's, a callback's, a transport's) on the ``roomkey.loop``
    logger, flood-controlled, with the exception as ``exception_fields`` and the task's name.
    asyncio's own handler would write the traceback and the reprs of the task, handle and
    transport, which can quote request bytes."""
    # asyncio's message up to the repr it may quote ("Exception in callback f(b'...')").
    words = itertools.takewhile(str.isalpha, str(context.get("message") or "").split())
    what = clean(" ".join(words))
    fields: dict[str, str] = {"what": what or "unhandled exception"}
    task = context.get("task") or context.get("future")
    if isinstance(task, asyncio.Task):
        fields["task"] = clean(task.get_name())
        fields["coroutine"] = clean(getattr(task.get_coro(), "__qualname__", ""))
    exc = context.get("exception")
    exc_info: ExcInfo | None = None
    if isinstance(exc, BaseException):
        exc_info = (type(exc), exc, exc.__traceback__)
        fields.update(exception_fields(exc_info, own=True))
    logging.getLogger(f"{ROOMKEY_LOGGER}.loop").error(
        "unhandled exception",
        extra={
            "roomkey_fields": fields,
            "roomkey_repeat_key": f"{what}:{fields.get('error')}:{fields.get('at')}",
        },
    )


@dataclass
class _Fallback:
    handler: _FloodControlledHandler
    set_level: bool  # roomkey's logger had no level: set for the fallback, unset after
    users: int = 0  # the applications running with it


_fallback: list[_Fallback] = []  # at most one


@contextlib.contextmanager
def fallback_logging(fmt: str, level: str) -> Iterator[None]:
    """For roomkey embedded in another application, while the application runs.

    The host's logging configuration decides where roomkey's lines go (they propagate like
    any library's): roomkey never touches the root logger. Only when nothing would write them
    (no handler on the ``roomkey`` logger or above it: the host configured no logging) does
    roomkey write its own lines and those of the socket libraries it creates
    (``LIBRARY_LEVELS``), as ``roomkey serve`` would (``fmt``, ``level``), to stderr."""
    tame_libraries()
    own = logging.getLogger(ROOMKEY_LOGGER)
    if not _fallback:
        if own.hasHandlers():
            yield
            return
        handler = _FloodControlledHandler(fmt)
        for name in (ROOMKEY_LOGGER, *LIBRARY_LEVELS):
            logging.getLogger(name).addHandler(handler)
        set_level = own.level == logging.NOTSET
        if set_level:
            own.setLevel(level.upper())
        _fallback.append(_Fallback(handler, set_level))
    state = _fallback[0]
    state.users += 1
    try:
        yield
    finally:
        state.users -= 1
        if not state.users:
            _fallback.clear()
            for name in (ROOMKEY_LOGGER, *LIBRARY_LEVELS):
                logging.getLogger(name).removeHandler(state.handler)
            if state.set_level:
                own.setLevel(logging.NOTSET)
            state.handler.close()
