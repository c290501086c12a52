"""Fixtures: a real roomkey on loopback, real Socket.IO and Pusher-protocol clients, pusher-js
in Node, a real redis-server. What they are built from is in tests/support/.

Nothing here mocks roomkey: tests start the real aiohttp application on a free port and talk
to it over TCP. A missing redis-server, Node.js or Chromium fails the tests that need it; it
never skips them (``-m`` deselects them: see tests/support/markers.py).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support import markers
from tests.support.node import NodePusher
from tests.support.pusher import RawPusherFactory
from tests.support.redis_server import RedisServer, start_redis, stop_redis
from tests.support.redis_topologies import (
    ClusterTopology,
    SentinelTopology,
    start_cluster,
    start_sentinel_topology,
    stop_cluster,
    stop_sentinel_topology,
)
from tests.support.servers import RunningServers, Server, StartServer
from tests.support.socketio_client import ConnectClient, SioClients

# The kit applications use (docs/testing.md): roomkey's tests run on the same code.
pytest_plugins = ["roomkey.testing.plugin"]

UNIT_TESTS = Path(__file__).resolve().parent / "unit"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Stop before running anything when a test lacks the marker of what it needs, or when
    a unit test starts a server (tests/support/markers.py)."""
    problems = markers.misplaced(items, UNIT_TESTS)
    if problems:
        raise pytest.UsageError("\n".join(problems))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[Any]:
    """The running test, for ``markers.require`` in helpers (fixtures included)."""
    markers.entering(item)
    try:
        return (yield)
    finally:
        markers.leaving(item)


@pytest.fixture
async def start_server() -> AsyncIterator[StartServer]:
    """``await start_server(settings=None, policy=None)`` -> a running ``Server``."""
    servers = RunningServers()
    yield servers.start
    await servers.close()


@pytest.fixture
async def server(start_server: StartServer) -> Server:
    return await start_server()


@pytest.fixture
async def connect() -> AsyncIterator[ConnectClient]:
    """``await connect(server, key=APP_KEY, token=None, headers=None)`` -> a connected client
    that has received ``connection_established``."""
    clients = SioClients()
    yield clients.open
    await clients.close()


@pytest.fixture(scope="session")
def _session_redis() -> Iterator[RedisServer]:
    server = start_redis()
    yield server
    stop_redis(server)


@pytest.fixture
def redis_server(_session_redis: RedisServer) -> RedisServer:
    """One real redis-server for the session; tests use distinct key prefixes or flush.
    Checked each time it is asked for (``getfixturevalue`` included): the test must carry
    the redis marker."""
    markers.require(markers.REDIS, "a redis-server")
    return _session_redis


@pytest.fixture(scope="session")
def _session_sentinel() -> Iterator[SentinelTopology]:
    topology = start_sentinel_topology()
    yield topology
    stop_sentinel_topology(topology)


@pytest.fixture
def redis_sentinel(_session_sentinel: SentinelTopology) -> SentinelTopology:
    """A master, a replica and three sentinels, started once for the session (tests use
    distinct prefixes; a test that kills a master starts a topology of its own)."""
    markers.require(markers.REDIS, "a redis-server")
    return _session_sentinel


@pytest.fixture(scope="session")
def _session_cluster() -> Iterator[ClusterTopology]:
    topology = start_cluster()
    yield topology
    stop_cluster(topology)


@pytest.fixture
def redis_cluster(_session_cluster: ClusterTopology) -> ClusterTopology:
    """A Redis Cluster of three masters with a replica each, started once for the session."""
    markers.require(markers.REDIS, "a redis-server")
    return _session_cluster


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server this test may stop, restart and flush (a test that restarts it sets
    the new process on this object, so that it is the one stopped)."""
    server = start_redis()
    yield server
    stop_redis(server)


@pytest.fixture(autouse=True)
def _no_proxy_env() -> None:
    os.environ.pop("HTTP_PROXY", None)
    os.environ.pop("http_proxy", None)


@pytest.fixture
async def raw_pusher() -> AsyncIterator[RawPusherFactory]:
    """``await raw_pusher(server, key=APP_KEY, protocol="7")`` -> a raw Pusher-protocol
    socket (tests/support/pusher.py); ``raw_pusher.established(server)`` also reads
    ``pusher:connection_established``."""
    async with aiohttp.ClientSession() as http:
        yield RawPusherFactory(http)


@pytest.fixture
async def node_pusher() -> AsyncIterator[Any]:
    """``await node_pusher(server, user_id="42", echo=False)`` -> pusher-js running in Node
    (tests/support/node.py); every process is stopped at teardown."""
    started: list[NodePusher] = []

    async def start(server: Server, **kw: Any) -> NodePusher:
        client = await NodePusher.start(server, **kw)
        started.append(client)
        return client

    yield start
    for client in started:
        await client.stop()
