"""Log records made safe to write as one line: escaped, bounded fields, exceptions as
fields, libraries' records cleaned (see ``roomkey.logs``)."""

from __future__ import annotations

import logging
import re
import traceback
from collections import deque
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


def record_message(record: logging.LogRecord) -> str:
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
            record.msg = clean(_JWT_SHAPE.sub("<jwt>", record_message(record)))
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
