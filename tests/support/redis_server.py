"""A real redis-server on loopback: one for the session (``redis_server`` fixture), or one
of a test's own that it may stop, restart and flush. A missing binary fails the test that
needs it; it never skips it."""

from __future__ import annotations

import pytest

from roomkey.testing.redis_server import RedisServer
from tests.support.markers import REDIS, require

__all__ = ["RedisServer", "start_redis", "stop_redis"]


def start_redis(
    port: int | None = None, workdir: str | None = None, extra: tuple[str, ...] = ()
) -> RedisServer:
    """The kit's ``RedisServer.start`` (a redis-server on ``port``, free by default;
    ``workdir`` reuses a data directory; ``extra``: more command-line options, e.g.
    ``--replicaof host port``), for a test that carries the redis marker; a missing or
    failing binary fails the test."""
    require(REDIS, "a redis-server")
    try:
        return RedisServer.start(port, workdir, extra)
    except RuntimeError as exc:
        pytest.fail(f"{exc}: run the README's test command (it installs it)")


def stop_redis(server: RedisServer) -> None:
    server.stop()
