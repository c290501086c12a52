"""``[redis] tls = true`` with ``tls_ca_file``, end to end: Sentinel and Cluster topologies
serving TLS only (``port 0``: a plain connection cannot work), with a CA and a server
certificate for 127.0.0.1 made at test time. Two roomkey nodes on them deliver a publish from
one to a Socket.IO client of the other and say ready on ``/readyz``; the same settings with a
CA that did not sign the certificate never connect: ``/readyz`` stays 503 while the broker
keeps failing to reach Redis, and a direct client reports the certificate refused."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from roomkey.config import RedisSettings
from roomkey.core.errors import ServiceUnavailable
from roomkey.redis_client import REDIS_FAILURES, RedisClient, open_redis, open_sentinel
from tests.support.apps import make_settings, make_token
from tests.support.certificates import TlsFiles, make_ca, make_tls_files
from tests.support.cluster import readyz
from tests.support.redis_topologies import (
    ClusterTopology,
    SentinelTopology,
    start_cluster,
    start_sentinel_topology,
    stop_cluster,
    stop_sentinel_topology,
)
from tests.support.servers import StartServer
from tests.support.socketio_client import ConnectClient
from tests.support.waiting import wait_for_condition

pytestmark = [pytest.mark.redis, pytest.mark.slow]

# Failed listener attempts (each one a refused handshake) seen before concluding that a
# node with the wrong CA does not connect; its backoff doubles from a few milliseconds.
REFUSED_ATTEMPTS = 4
REFUSED_TIMEOUT_S = 10.0


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA that signed nothing the topologies serve."""
    return make_ca(tmp_path_factory.mktemp("other-ca"), "other-ca")[0]


@pytest.fixture(scope="module")
def tls_sentinel(tls_files: TlsFiles) -> Iterator[SentinelTopology]:
    topology = start_sentinel_topology(tls=tls_files)
    yield topology
    stop_sentinel_topology(topology)


@pytest.fixture(scope="module")
def tls_cluster(tls_files: TlsFiles) -> Iterator[ClusterTopology]:
    topology = start_cluster(tls=tls_files)
    yield topology
    stop_cluster(topology)


async def test_sentinel_over_tls_delivers_and_is_ready(
    tls_sentinel: SentinelTopology, start_server: StartServer, connect: ConnectClient
) -> None:
    settings = tls_sentinel.settings()
    assert settings.tls and settings.tls_ca_file
    await _delivers_and_is_ready(settings, start_server, connect)


async def test_sentinel_with_a_ca_that_did_not_sign_never_connects(
    tls_sentinel: SentinelTopology, other_ca: Path, start_server: StartServer
) -> None:
    settings = tls_sentinel.settings(tls_ca_file=str(other_ca))
    await _never_connects(settings, start_server)
    # Why: the sentinels' certificate is refused (the error for the master names no cause).
    sentinel = open_sentinel(settings)
    for client in sentinel.sentinels:
        await _refuses_the_certificate(client)


async def test_cluster_over_tls_delivers_and_is_ready(
    tls_cluster: ClusterTopology, start_server: StartServer, connect: ConnectClient
) -> None:
    settings = tls_cluster.settings()
    assert settings.tls and settings.tls_ca_file
    await _delivers_and_is_ready(settings, start_server, connect)


async def test_cluster_with_a_ca_that_did_not_sign_never_connects(
    tls_cluster: ClusterTopology, other_ca: Path, start_server: StartServer
) -> None:
    settings = tls_cluster.settings(tls_ca_file=str(other_ca))
    await _never_connects(settings, start_server)
    await _refuses_the_certificate(open_redis(settings, name="roomkey-tls-probe"))


async def _delivers_and_is_ready(
    redis: RedisSettings, start_server: StartServer, connect: ConnectClient
) -> None:
    """Two nodes on ``redis``: a publish on one reaches a subscriber of the other (through
    Redis, over TLS); both answer 200 on ``/readyz``."""
    settings = replace(make_settings(), redis=redis)
    a, b = await start_server(settings), await start_server(settings)
    await wait_for_condition(
        lambda: a.runtime.hub.broker.ready and b.runtime.hub.broker.ready, "both brokers ready"
    )
    for node in (a, b):
        assert (await readyz(node))[0] == 200
    client = await connect(b, token=make_token("7"))
    assert await client.subscribe("private-tls") == {"channel": "private-tls"}
    await a.runtime.hub.publish(a.runtime.apps.default, ["private-tls"], "e", "over tls")
    assert (await client.next("event", timeout=5))["data"] == "over tls"


async def _never_connects(redis: RedisSettings, start_server: StartServer) -> None:
    """A node on ``redis`` (whose CA did not sign the servers' certificate): its broker fails
    attempt after attempt, never ready, ``/readyz`` 503 all along, a publish refused."""
    server = await start_server(replace(make_settings(), redis=redis))
    broker = server.runtime.hub.broker
    statuses: list[int] = []

    async def refused_again() -> bool:
        statuses.append((await readyz(server))[0])
        assert not broker.ready
        return broker.stats().reconnects >= REFUSED_ATTEMPTS

    await wait_for_condition(
        refused_again, "the broker refused several times", timeout=REFUSED_TIMEOUT_S
    )
    assert set(statuses) == {503}
    with pytest.raises(ServiceUnavailable):
        await server.runtime.hub.publish(server.runtime.apps.default, ["private-tls"], "e", "")


async def _refuses_the_certificate(client: RedisClient) -> None:
    """``client`` (of the wrong CA's settings) fails on the server's certificate, not on
    anything else; closed afterwards."""
    try:
        with pytest.raises(REDIS_FAILURES, match="certificate verify failed"):
            await client.ping()
    finally:
        await client.aclose()
