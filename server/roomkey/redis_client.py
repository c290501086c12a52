"""Opening Redis clients for the broker and the presence store, and turning Redis failures
into roomkey errors: ``ServiceUnavailable`` when Redis cannot serve (unreachable, timed out,
loading, failing over, out of memory), ``BackendError`` when it answered that the command
itself is wrong (a key of the wrong type, an ACL refusal, a script error): a bug, not an
outage, logged (flood-controlled) as ``redis refused a command``.

Clients never retry on their own: a failed call surfaces at once (as ``ServiceUnavailable``,
HTTP 503) and the callers decide (the broker's listener reconnects with backoff; the presence
store reconciles at its next heartbeat). Every call is bounded by
``redis.operation_timeout_seconds``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import (
    ClusterDownError,
    ExecAbortError,
    NoPermissionError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TryAgainError,
)

from roomkey.config import RedisSettings
from roomkey.core.errors import BackendError, RoomkeyError, ServiceUnavailable
from roomkey.logs import log_event
from roomkey.tasks import within

T = TypeVar("T")
log = logging.getLogger("roomkey.redis")


def text(value: bytes | str) -> str:
    """A Redis reply as text (clients are opened with ``decode_responses=False``)."""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


# What a Redis call can fail with: protocol/connection errors, socket errors, timeouts.
REDIS_FAILURES: tuple[type[BaseException], ...] = (RedisError, OSError, asyncio.TimeoutError)


# Connections per client. More calls at once wait for a free connection (within the
# operation timeout) instead of failing: redis-py's default pool raises MaxConnectionsError
# past 100, which turned a burst of subscribes into "redis is unavailable" refusals.
MAX_CONNECTIONS = 64


def open_redis(settings: RedisSettings, *, name: str) -> aioredis.Redis:
    """A client for ``settings.url`` with bounded connect/read times and no hidden retries.
    ``name`` is shown by ``CLIENT LIST`` (e.g. ``roomkey-broker``). At most
    ``MAX_CONNECTIONS`` connections; further calls wait for one, up to the operation
    timeout."""
    timeout = settings.operation_timeout_seconds
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.url,
        max_connections=MAX_CONNECTIONS,
        timeout=timeout,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        client_name=name,
        decode_responses=False,
    )
    return aioredis.Redis.from_pool(pool)


# Error answers that mean "not now" (a replica promoted, a dataset loading, memory full, a
# script hogging the server): an outage like an unreachable Redis. MasterDownError is a
# ClusterDownError. LOADING arrives as BusyLoadingError, a ConnectionError.
_OUTAGE_ANSWERS: tuple[type[ResponseError], ...] = (
    ReadOnlyError,
    OutOfMemoryError,
    TryAgainError,
    ClusterDownError,
)
_OUTAGE_WORDS = frozenset({"BUSY", "LOADING", "MASTERDOWN", "READONLY", "OOM", "TRYAGAIN"})
# redis-py strips the code from answers it maps to a class of its own.
_ANSWER_WORDS: tuple[tuple[type[ResponseError], str], ...] = (
    (NoPermissionError, "NOPERM"),
    (NoScriptError, "NOSCRIPT"),
    (ExecAbortError, "EXECABORT"),
)
_WORD = re.compile(r"[A-Z]{2,16}")
_PIPELINE_NOTE = " of pipeline caused error: "


def answer_kind(exc: ResponseError) -> str:
    """The kind of a Redis error answer (``WRONGTYPE``, ``NOPERM``, ``ERR``...): a fixed
    word, safe to log; never the rest of the message, which can quote keys and arguments."""
    for cls, word in _ANSWER_WORDS:
        if isinstance(exc, cls):
            return word
    message = str(exc)
    if message.startswith("Command # ") and _PIPELINE_NOTE in message:
        message = message.split(_PIPELINE_NOTE, 1)[1]
    first = message.split(" ", 1)[0]
    return first if _WORD.fullmatch(first) else "ERR"


def failure(exc: BaseException, what: str) -> RoomkeyError:
    """The roomkey error for a failed Redis call ``what``: ``BackendError`` for an answer that
    says the command is wrong, ``ServiceUnavailable`` for anything else."""
    if isinstance(exc, ResponseError) and not isinstance(exc, _OUTAGE_ANSWERS):
        kind = answer_kind(exc)
        if kind not in _OUTAGE_WORDS:
            log_event(
                log,
                logging.ERROR,
                "redis refused a command",
                repeat_key=f"refused:{what}:{kind}",
                command=what,
                answer=kind,
            )
            return BackendError(f"internal error: redis refused {what} ({kind})")
    return ServiceUnavailable(f"redis is unavailable ({what})")


async def bounded(call: Awaitable[T], limit_seconds: float, what: str) -> T:
    """Await a Redis call within ``limit_seconds``. Raises ``ServiceUnavailable`` naming
    ``what`` when Redis cannot answer, ``BackendError`` when it refused the command."""
    try:
        return await within(call, limit_seconds)
    except REDIS_FAILURES as exc:
        raise failure(exc, what) from None
