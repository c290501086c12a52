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


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    if not logger.isEnabledFor(level):
        return
    safe = {k: clean(v) for k, v in fields.items() if v is not None and v != ""}
    logger.log(level, event, extra={"roomkey_fields": safe})


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


def configure_logging(fmt: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
