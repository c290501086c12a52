"""Opening Redis clients for every roomkey component, on the configured topology (one Redis,
Sentinel or Cluster: ``open_redis``), and turning Redis failures
into roomkey errors: ``ServiceUnavailable`` when Redis cannot serve (unreachable, timed out,
loading, failing over, out of memory), ``BackendError`` when it answered that the command
itself is wrong (a key of the wrong type, an ACL refusal, a script error): a bug, not an
outage, logged (flood-controlled) as ``redis refused a command``.

Clients never retry on their own: a failed call surfaces at once (as ``ServiceUnavailable``,
HTTP 503) and the callers decide (the broker's listener reconnects with backoff; the presence
store reconciles at its next heartbeat). Every call is bounded by
``redis.operation_timeout_seconds``.

Topologies: with ``url`` a client of that one server. With ``sentinels`` a client of the
master the sentinels name: every new connection asks them, so after a failover the next
connection (a failed call drops its own) reaches the new master; while none is named, calls
fail as an outage. With ``cluster_nodes`` a ``RedisCluster`` client: it routes each command
by its key's slot, follows ``MOVED``/``ASK`` and re-reads the slot map after a connection
fails, so a promoted replica is found at the next call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.exceptions import (
    ClusterDownError,
    ExecAbortError,
    NoPermissionError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    ResponseError,
    TryAgainError,
)

from roomkey._patches.redis_cluster import closing_tasks
from roomkey.config import RedisSettings
from roomkey.config.values import parse_address
from roomkey.core.errors import BackendError, RoomkeyError, ServiceUnavailable
from roomkey.logs import log_event
from roomkey.tasks import within

T = TypeVar("T")
log = logging.getLogger("roomkey.redis")


def text(value: bytes | str) -> str:
    """A Redis reply as text (clients are opened with ``decode_responses=False``)."""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


# What a Redis call can fail with: protocol/connection errors, socket errors, timeouts, and a
# cluster client's own (no node reachable, a slot no master serves while one fails over).
REDIS_FAILURES: tuple[type[BaseException], ...] = (
    RedisError,
    OSError,
    asyncio.TimeoutError,
    RedisClusterException,
)


# Connections per client. More calls at once wait for a free connection (within the
# operation timeout) instead of failing: redis-py's default pool raises MaxConnectionsError
# past 100, which turned a burst of subscribes into "redis is unavailable" refusals.
MAX_CONNECTIONS = 64


RedisClient = aioredis.Redis | RedisCluster
"""A client of the configured topology: the same commands either way; a cluster client
routes each by its key's slot."""


class _Cluster(RedisCluster):
    """redis-py's cluster client, made to read the slot map before any command when it must
    (at first, and after a failed connection): its own check, inside each command, lets
    commands started together while it initializes fail on connections it is replacing
    (``Connection lost``). ``initialize`` is locked, so they wait for one reading. Commands
    past ``MAX_CONNECTIONS`` at once wait for a turn.

    Closing it also closes the nodes that a slot-map reading replaced while one of their
    connections was in use (redis-py drops them with that connection open).
    """

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        # ``initialize`` (public, locked) reads the slot map when the client needs one (at
        # first, after a failed connection) and does nothing otherwise: every command waits
        # for that one reading instead of racing it.
        before = self.nodes_manager.nodes_cache
        await self.initialize()
        if self.nodes_manager.nodes_cache is not before:
            self._note_nodes(before.values())
        # At most MAX_CONNECTIONS commands at once: more wait for a turn (within the
        # caller's operation timeout) instead of failing with MaxConnectionsError, as the
        # cluster client does past its connections per node (a burst of subscribes).
        turns: asyncio.Semaphore = self.__dict__.setdefault(
            "_turns", asyncio.Semaphore(MAX_CONNECTIONS)
        )
        async with turns:
            return await super().execute_command(*args, **kwargs)

    def _note_nodes(self, replaced: Iterable[ClusterNode] = ()) -> None:
        """Remember every node this client has used (``replaced``: those a slot-map reading
        just dropped), so that ``aclose`` closes them all."""
        seen = self.__dict__.setdefault("_seen", [])
        manager = self.nodes_manager
        for node in [*replaced, *manager.startup_nodes.values(), *manager.nodes_cache.values()]:
            if not any(node is s for s in seen):
                seen.append(node)

    async def aclose(self) -> None:
        self._note_nodes()
        seen: list[ClusterNode] = self.__dict__.get("_seen", [])
        # Connections being closed in the background (released after a failover) first.
        pending = [t for node in seen for t in closing_tasks(node)]
        await asyncio.gather(*pending, return_exceptions=True)
        await super().aclose()
        for node in seen:
            with contextlib.suppress(*REDIS_FAILURES):
                await node.disconnect()


async def reread_slots(cluster: RedisCluster) -> None:
    """Read the cluster's slot map again now (a listener starting over after a failover),
    keeping track of the nodes it replaces so that closing the client closes them."""
    if isinstance(cluster, _Cluster):
        cluster._note_nodes()
    await cluster.nodes_manager.initialize()
    if isinstance(cluster, _Cluster):
        cluster._note_nodes()


class _BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """A pool of connections to the master the sentinels name that waits for a free
    connection (up to its timeout) instead of failing past ``max_connections``. Closing it
    closes its connections to the sentinels too."""

    async def aclose(self) -> None:
        await super().aclose()
        for sentinel in self.sentinel_manager.sentinels:
            with contextlib.suppress(*REDIS_FAILURES):
                await sentinel.aclose()


# Commands sent at once on a cluster where one Redis takes a pipeline.
CLUSTER_BATCH = 32

Command = tuple[Any, ...]
"""A command and its arguments, e.g. ``("SMEMBERS", key)``."""


async def run_batch(client: RedisClient, commands: list[Command]) -> list[Any]:
    """The replies to ``commands``, in order: one non-transactional pipeline on one Redis; on
    a cluster each command on its own, ``CLUSTER_BATCH`` at once, each routed to its slot's
    master (a cluster pipeline does not read the slot map again when a master has failed
    over, so it would keep failing on the dead one). Raises the first failure."""
    if isinstance(client, RedisCluster):
        cluster = client

        def call(command: Command) -> Callable[[], Awaitable[Any]]:
            return lambda: cluster.execute_command(*command)

        return await gathered([call(c) for c in commands])
    pipe = client.pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command)
    return list(await pipe.execute())


async def gathered(calls: list[Callable[[], Awaitable[T]]]) -> list[T]:
    """Each call's result, in order, ``CLUSTER_BATCH`` calls at once; every call of a batch
    has finished before the first failure is raised (none is left running)."""
    results: list[T] = []
    for i in range(0, len(calls), CLUSTER_BATCH):
        batch = await asyncio.gather(
            *(c() for c in calls[i : i + CLUSTER_BATCH]), return_exceptions=True
        )
        for result in batch:
            if isinstance(result, BaseException):
                raise result
        results.extend(batch)  # type: ignore[arg-type]
    return results


def _connection_options(settings: RedisSettings, username: str, password: str) -> dict[str, Any]:
    """Bounded times, no retries, ``username``/``password`` when set, and the topology's TLS:
    what every connection roomkey opens to a data node or a sentinel takes."""
    timeout = settings.operation_timeout_seconds
    options: dict[str, Any] = {
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
    }
    if username:
        options["username"] = username
    if password:
        options["password"] = password
    if settings.tls:
        options["ssl"] = True
        if settings.tls_ca_file:
            options["ssl_ca_certs"] = settings.tls_ca_file
    return options


def node_options(settings: RedisSettings, name: str) -> dict[str, Any]:
    """Connection options for a data node of Sentinel or Cluster (credentials, TLS, bounded
    times, no retries), as redis-py's clients take them."""
    options = _connection_options(settings, settings.username, settings.password)
    options["client_name"] = name
    options["decode_responses"] = False
    return options


def addresses(values: tuple[str, ...]) -> list[tuple[str, int]]:
    """``(host, port)`` of each ``host:port`` (the config reader has checked them)."""
    out = []
    for value in values:
        address = parse_address(value)
        if address is None:
            raise ValueError(f"{value!r} is not host:port")
        out.append(address)
    return out


def open_redis(settings: RedisSettings, *, name: str) -> RedisClient:
    """A client of the configured topology with bounded connect/read times and no hidden
    retries. ``name`` is shown by ``CLIENT LIST`` (e.g. ``roomkey-broker``). At most
    ``MAX_CONNECTIONS`` connections (per node of a cluster); further calls wait for one, up
    to the operation timeout."""
    timeout = settings.operation_timeout_seconds
    if settings.mode == "cluster":
        return _Cluster(
            startup_nodes=[ClusterNode(h, p) for h, p in addresses(settings.cluster_nodes)],
            require_full_coverage=False,
            max_connections=MAX_CONNECTIONS,
            **node_options(settings, name),
        )
    if settings.mode == "sentinel":
        sentinel = open_sentinel(settings, name)
        sentinel_pool = _BlockingSentinelPool(  # type: ignore[no-untyped-call]
            settings.sentinel_master,
            sentinel,
            max_connections=MAX_CONNECTIONS,
            timeout=timeout,
            **sentinel.connection_kwargs,
        )
        return aioredis.Redis.from_pool(sentinel_pool)
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


def open_sentinel(settings: RedisSettings, name: str = "roomkey") -> Sentinel:
    """The sentinels of ``settings`` (their own credentials; TLS as the data nodes), whose
    ``connection_kwargs`` open connections to the master they name."""
    sentinel_options = _connection_options(
        settings, settings.sentinel_username, settings.sentinel_password
    )
    return Sentinel(  # type: ignore[no-untyped-call]
        addresses(settings.sentinels),
        sentinel_kwargs=sentinel_options,
        **node_options(settings, name),
    )


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
