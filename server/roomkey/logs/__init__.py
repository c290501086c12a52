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

from roomkey.logs.drops import DropBursts
from roomkey.logs.flood import (
    RepeatFilter,
    flush_repeated,
)
from roomkey.logs.output import (
    DropMessages,
    JsonFormatter,
    TextFormatter,
    configure_logging,
    fallback_logging,
    log_loop_exception,
    tame_libraries,
)
from roomkey.logs.records import (
    LIBRARY_LEVELS,
    MAX_TRACE_FRAMES,
    MAX_VALUE_CHARS,
    ROOMKEY_LOGGER,
    SafeRecords,
    clean,
    exception_fields,
    is_own,
    log_event,
    one_line,
)

__all__ = [
    "LIBRARY_LEVELS",
    "MAX_TRACE_FRAMES",
    "MAX_VALUE_CHARS",
    "ROOMKEY_LOGGER",
    "DropBursts",
    "DropMessages",
    "JsonFormatter",
    "RepeatFilter",
    "SafeRecords",
    "TextFormatter",
    "clean",
    "configure_logging",
    "exception_fields",
    "fallback_logging",
    "flush_repeated",
    "is_own",
    "log_event",
    "log_loop_exception",
    "one_line",
    "tame_libraries",
]
