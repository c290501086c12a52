"""Structured log lines: ``event key=value ...`` as text, or one JSON object per line.

Callers pass only safe fields (app id, socket id, reason, address); untrusted values are
escaped and truncated here. Secrets, tokens, signatures, cookies and channel_data are never
passed in. ``configure_logging`` is called once by the CLI.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

MAX_VALUE_CHARS = 200


def clean(value: object) -> str:
    """A printable, bounded rendering of an untrusted value."""
    text = str(value)
    if len(text) > MAX_VALUE_CHARS:
        text = text[:MAX_VALUE_CHARS] + "..."
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


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


class RepeatFilter(logging.Filter):
    """A flood of identical lines is logged once per ``window`` seconds with a count.

    Lines are identical when they carry the same ``repeat_key`` (refusals: what, code,
    reason) or, for warnings and errors without one, the same logger and message template.
    The first line passes; the rest within the window are counted, not written; the first
    line after the window passes with ``repeated=N`` (the lines suppressed). Memory is bounded
    by ``max_keys``: past it the table is reset (worst case: one extra line per key).
    """

    def __init__(
        self, window: float = 10.0, max_keys: int = 10_000, clock: Any = time.monotonic
    ) -> None:
        super().__init__()
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        self._seen: dict[tuple[str, ...], list[float]] = {}  # key -> [window start, suppressed]

    def filter(self, record: logging.LogRecord) -> bool:
        key_text = getattr(record, "roomkey_repeat_key", None)
        if key_text:
            key: tuple[str, ...] = (record.name, key_text)
        elif record.levelno >= logging.WARNING:
            key = (record.name, str(record.msg))
        else:
            return True
        now = self._clock()
        entry = self._seen.get(key)
        if entry is not None and now - entry[0] < self.window:
            entry[1] += 1
            return False
        if len(self._seen) >= self.max_keys:
            self._seen.clear()
        self._seen[key] = [now, 0]
        if entry is not None and entry[1]:
            fields = dict(getattr(record, "roomkey_fields", None) or {})
            fields["repeated"] = str(int(entry[1]))
            record.roomkey_fields = fields
        return True


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "roomkey_fields", None)
        base = f"{self.formatTime(record)} {record.levelname.lower()} {record.name} {record.getMessage()}"
        if fields:
            base += " " + " ".join(
                f"{k}={json.dumps(v)}" if " " in v else f"{k}={v}" for k, v in fields.items()
            )
        if record.exc_info:
            base += "\n" + self.formatException(record.exc_info)
        return base


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(time.time(), 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update(getattr(record, "roomkey_fields", None) or {})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
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


def configure_logging(fmt: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
