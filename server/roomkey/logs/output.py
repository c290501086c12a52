"""Where log lines go: the formatters, roomkey serve's handler, the libraries' loggers,
the event loop's exception handler and the fallback for an embedding application."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from roomkey.logs.flood import RepeatFilter
from roomkey.logs.records import (
    LIBRARY_LEVELS,
    ROOMKEY_LOGGER,
    ExcInfo,
    SafeRecords,
    clean,
    exception_fields,
    is_own,
    one_line,
    record_message,
)


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
            f"{one_line(record_message(record))}"
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
            "msg": one_line(record_message(record)),
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
