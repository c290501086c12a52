"""Flood control: a run of identical lines is written once per window, with a count."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass


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
