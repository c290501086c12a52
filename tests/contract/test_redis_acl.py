"""The least-privilege Redis ACL of docs/deployment.md, read from the page itself, is what is
tested here: it is enough for everything roomkey does with Redis (broker, presence with its
sweeps and reconciliation, connection counts, rate limits, the webhook store, cache channels,
the session store) on one Redis, Sentinel and Cluster alike, nothing in it is refused
(``ACL LOG`` stays empty), and it keeps roomkey inside its prefix and out of the session keys'
values (read-only) and of dangerous commands.

It also checks that the redis-server the suite runs against is not older than the floor
docs/deployment.md gives."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
import redis.asyncio as aioredis
from redis.exceptions import NoPermissionError

from roomkey.broker.redis import RedisBroker
from roomkey.cache.base import CachedEvent
from roomkey.cache.redis import RedisChannelCache
from roomkey.cluster.redis import RedisNodeRegistry
from roomkey.config import RateLimits, RedisSettings, SessionSettings
from roomkey.core.errors import BackendError, RateLimited, ServiceUnavailable
from roomkey.core.protocol import ChannelEvent
from roomkey.identity.session import RedisSessionStore
from roomkey.presence.base import Departure
from roomkey.presence.redis import RedisPresenceStore
from roomkey.ratelimit.redis import RedisRateLimiter
from roomkey.ratelimit.throttle import Throttle
from roomkey.webhooks.redis import RedisWebhookStore
from tests.support.apps import make_settings, make_token
from tests.support.authorize import post_auth
from tests.support.backends import Recorder, redis_settings
from tests.support.paths import DOCS_DIR
from tests.support.redis_server import RedisServer, start_redis, stop_redis
from tests.support.redis_topologies import (
    ClusterTopology,
    start_sentinel_topology,
    stop_sentinel_topology,
)
from tests.support.redis_topologies import cli as _cli
from tests.support.servers import StartServer
from tests.support.socketio_client import ConnectClient
from tests.support.waiting import wait_for_condition

pytestmark = [pytest.mark.redis]

DEPLOYMENT = DOCS_DIR / "deployment.md"
PASSWORD = "roomkey-acl-password"
SESSION = '{"created": 1700000000, "session": {"user_id": "5", "name": "Eve"}}'


def documented_acl(user: str = "roomkey") -> list[str]:
    """The rules of the one ``ACL SETUSER {user} ...`` line of docs/deployment.md, with its
    ``>PASSWORD`` placeholder replaced."""
    lines = [
        line.strip()
        for line in DEPLOYMENT.read_text(encoding="utf-8").splitlines()
        if line.strip().startswith(f"ACL SETUSER {user} ")
    ]
    assert len(lines) == 1, lines
    rules = lines[0].split()[3:]
    assert ">PASSWORD" in rules
    return [f">{PASSWORD}" if rule == ">PASSWORD" else rule for rule in rules]


def documented_floor() -> tuple[int, int]:
    found = re.search(r"Redis (\d+)\.(\d+) or later", DEPLOYMENT.read_text(encoding="utf-8"))
    assert found is not None, "docs/deployment.md gives no Redis version floor"
    return int(found.group(1)), int(found.group(2))


@pytest.fixture
def acl_redis() -> Iterator[RedisServer]:
    server = start_redis()
    server.cli("ACL", "SETUSER", "roomkey", *documented_acl())
    yield server
    stop_redis(server)


def acl_url(server: RedisServer) -> str:
    return f"redis://roomkey:{PASSWORD}@127.0.0.1:{server.port}/0"


def denials(server: RedisServer) -> str:
    """What the ACL refused so far (``ACL LOG``; empty when nothing was)."""
    return server.cli("ACL", "LOG")


def test_the_redis_under_test_meets_the_documented_floor(redis_server: RedisServer) -> None:
    info = redis_server.cli("INFO", "server")
    found = re.search(r"redis_version:(\d+)\.(\d+)", info)
    assert found is not None
    assert (int(found.group(1)), int(found.group(2))) >= documented_floor()


async def exercise_every_part(
    settings: RedisSettings,
    *,
    set_session: Callable[[str, str], None],
    flush: Callable[[], None] | None = None,
    exists: Callable[[str], bool] | None = None,
) -> None:
    """Everything roomkey does with Redis, on ``settings`` (any topology, as the ACL user):
    the broker (listen, publish, control, unlisten, both listeners' pings), presence and
    counts, connection counts, a silent node swept by the other (CLAIM_DEAD), rate limits
    counted then refused (the refusal reads the window's TTL), the webhook store (a held
    leave cancelled, a claim renewed, released and acked), the session store reading what
    the host application wrote (``set_session(key, value)``), and cache channels. With
    ``flush`` (and ``exists`` to read a key), Redis loses everything, scripts included, and
    presence repairs its counts (SCRIPT EXISTS/LOAD)."""
    store, silent = RedisPresenceStore(settings, "node-a"), RedisPresenceStore(settings, "node-b")
    nodes, silent_nodes = (
        RedisNodeRegistry(settings, "node-a", store),
        RedisNodeRegistry(settings, "node-b", silent),
    )
    broker, other = RedisBroker(settings, "node-a"), RedisBroker(settings, "node-b")
    limiter = RedisRateLimiter(settings)
    throttle = Throttle(RateLimits(authorize_per_minute_per_user=2), limiter)
    sessions = RedisSessionStore(settings, "AIOHTTP_SESSION")
    cache = RedisChannelCache(settings)
    hooks = RedisWebhookStore(settings, "node-a")
    departures: list[Departure] = []

    async def announce(gone: list[Departure]) -> None:
        departures.extend(gone)

    store.set_departure_handler(announce)
    rec = Recorder()
    other.set_handler(rec.deliver)
    other.set_control_handler(rec.control)
    nodes.set_connection_counter(lambda: {"1": 2})  # shared on each beat
    silent_nodes.set_connection_counter(lambda: {"1": 3})
    parts = (store, silent, nodes, silent_nodes, broker, other, throttle, cache, hooks)
    for part in parts:
        await part.start()
    try:
        await wait_for_condition(lambda: broker.ready and other.ready, "both brokers ready")
        await other.listen("1", "private-acl")
        await broker.publish("1", ChannelEvent("private-acl", "e", "d"))
        await broker.publish_control("1", {"op": "terminate_user", "user_id": "7"})
        await wait_for_condition(
            lambda: len(rec.deliveries) == 1 and len(rec.commands) == 1,
            "the event and the control command delivered",
        )
        await other.unlisten("1", "private-acl")
        joined = await store.join("1", "presence-acl", "1.1", "u1", {"n": 1}, 100)
        assert joined.first
        assert await store.add_subscriber("1", "presence-acl", "1.1") == 1
        assert await store.members("1", "presence-acl") == {"u1": {"n": 1}}
        assert await store.subscriber_count("1", "presence-acl") == 1
        assert await store.channels("1") == {"presence-acl": 1}
        await wait_for_condition(
            lambda: nodes.other_connections("1") == 3, "the other node's 3 connections counted"
        )
        if flush is not None and exists is not None:
            flush()
            await wait_for_condition(
                lambda: exists("roomkey:channels:{1}"), "the channel counts repaired after a flush"
            )
        await silent.join("1", "presence-acl", "2.1", "u2", None, 100)
        await silent.add_subscriber("1", "private-gone", "2.2")
        assert silent_nodes._task is not None
        silent_nodes._task.cancel()  # as in kill -9
        await wait_for_condition(lambda: len(departures) == 2, "the silent node's two departures")
        assert await store.leave("1", "presence-acl", "1.1") == "u1"
        assert await store.remove_subscriber("1", "presence-acl", "1.1") == 0
        app = make_settings().apps[0]
        await throttle.authorize_user(app, "u1")
        await throttle.authorize_user(app, "u1")
        with pytest.raises(RateLimited):
            await throttle.authorize_user(app, "u1")
        assert limiter.failures == 0
        left = {"name": "member_removed", "channel": "presence-acl", "user_id": "u1"}
        back = {"name": "member_added", "channel": "presence-acl", "user_id": "u1"}
        await hooks.push("1", [left, back, {"name": "channel_occupied", "channel": "c"}], 5, 9)
        claimed = await hooks.claim("1", 10, 5.0)
        assert [c.event["name"] for c in claimed] == ["channel_occupied"]
        await hooks.renew("1", [claimed[0].id], 5.0)
        await hooks.release("1", [claimed[0].id])
        await hooks.ack("1", [c.id for c in await hooks.claim("1", 10, 5.0)])
        set_session("AIOHTTP_SESSION_acl0session", SESSION)
        assert await sessions.load("acl0session") == {
            "created": 1700000000,
            "session": {"user_id": "5", "name": "Eve"},
        }
        assert await sessions.load("unknown") is None
        assert await cache.claim_miss("1", "cache-acl", 10) is True
        await cache.put("1", "cache-acl", CachedEvent("e", "d"), 60)
        assert await cache.get("1", "cache-acl") == CachedEvent("e", "d")
    finally:
        for closing in (*parts, sessions):
            await closing.close()


async def test_documented_acl_suffices_for_every_redis_part(acl_redis: RedisServer) -> None:
    url = acl_url(acl_redis)

    def flush() -> None:
        acl_redis.cli("FLUSHALL")
        acl_redis.cli("SCRIPT", "FLUSH")

    def set_session(key: str, value: str) -> None:
        acl_redis.cli("SET", key, value)

    await exercise_every_part(
        redis_settings(url, prefix="roomkey"),
        set_session=set_session,
        flush=flush,
        exists=lambda key: acl_redis.cli("EXISTS", key) == "1",
    )
    assert denials(acl_redis) == ""

    # What the same user may not do.
    probe = RedisSessionStore(url, "AIOHTTP_SESSION")
    try:
        with pytest.raises(BackendError, match="NOPERM"):
            await probe.save({"user_id": "5"})  # the host application's to write
        with pytest.raises(BackendError, match="NOPERM"):
            await probe.delete("acl0session")
    finally:
        await probe.close()
    client = aioredis.Redis.from_url(url)
    try:
        for command in (
            ("SET", "other:key", "1"),
            ("GET", "other:key"),
            ("FLUSHALL",),
            ("FLUSHDB",),
            ("KEYS", "*"),
            ("CONFIG", "GET", "requirepass"),
            ("SCRIPT", "FLUSH"),
            ("EVAL", "return 1", "0"),
            ("PUBLISH", "other-channel", "x"),
            ("ACL", "WHOAMI"),
        ):
            with pytest.raises(NoPermissionError):
                await client.execute_command(*command)  # type: ignore[no-untyped-call]
    finally:
        await client.aclose()


async def test_a_roomkey_node_runs_on_the_documented_acl(
    acl_redis: RedisServer, start_server: StartServer, connect: ConnectClient
) -> None:
    """The whole server with ``[redis]`` and ``[session]`` on the ACL user, in database 1:
    connect (rate limit), authorize with a session cookie (rate limits, session read), join
    presence and receive a publish."""
    url = acl_url(acl_redis).replace("/0", "/1")  # a database other than 0: SELECT
    settings = replace(
        make_settings(),
        redis=redis_settings(url, prefix="roomkey"),
        session=SessionSettings(store="redis"),
    )
    acl_redis.cli("-n", "1", "SET", "AIOHTTP_SESSION_acl1session", SESSION)
    server = await start_server(settings)
    await wait_for_condition(lambda: server.runtime.hub.broker.ready, "the broker ready")
    client = await connect(server, token=make_token("5"))
    status, body, _ = await post_auth(
        server,
        {"socket_id": client.socket_id, "channel_name": "presence-room"},
        cookies={"AIOHTTP_SESSION": "acl1session"},
    )
    assert status == 200, body
    joined = await client.subscribe("presence-room")
    assert joined["presence"]["ids"] == ["5"]
    await server.runtime.hub.publish(server.runtime.apps.default, ["presence-room"], "e", "hi")
    assert (await client.next("event"))["data"] == "hi"
    await client.client.disconnect()
    await wait_for_condition(lambda: not server.runtime.hub.connections, "every socket closed")
    assert denials(acl_redis) == ""


async def test_documented_session_only_acl_reads_sessions_and_nothing_else() -> None:
    """The user for a session store on a Redis of its own (``[session] redis_url``)."""
    server = start_redis()
    try:
        server.cli("ACL", "SETUSER", "roomkey-sessions", *documented_acl("roomkey-sessions"))
        url = f"redis://roomkey-sessions:{PASSWORD}@127.0.0.1:{server.port}/2"
        server.cli("-n", "2", "SET", "AIOHTTP_SESSION_acl2session", SESSION)
        sessions = RedisSessionStore(url, "AIOHTTP_SESSION")
        try:
            assert await sessions.load("acl2session") is not None
            assert await sessions.load("unknown") is None
        finally:
            await sessions.close()
        assert denials(server) == ""
        probe = RedisSessionStore(url, "AIOHTTP_SESSION")
        try:
            with pytest.raises(BackendError, match="NOPERM"):
                await probe.save({"user_id": "5"})
            with pytest.raises(BackendError, match="NOPERM"):
                await probe.delete("acl2session")
        finally:
            await probe.close()
        client = aioredis.Redis.from_url(url)
        try:
            for command in (("GET", "roomkey:nodes"), ("PUBLISH", "roomkey:control", "x")):
                with pytest.raises(NoPermissionError):
                    await client.execute_command(*command)  # type: ignore[no-untyped-call]
        finally:
            await client.aclose()
    finally:
        stop_redis(server)


async def test_documented_acl_suffices_on_a_cluster(redis_cluster: ClusterTopology) -> None:
    """The same ACL line on every node of a Redis Cluster: sharded pub/sub, the slot map and
    every part as on one Redis; nothing refused on any node."""
    for port in redis_cluster.alive():
        _cli(port, "ACL", "SETUSER", "roomkey", "reset", *documented_acl())
        _cli(port, "ACL", "LOG", "RESET")
    settings = redis_cluster.settings(prefix="roomkey", username="roomkey", password=PASSWORD)

    def set_session(key: str, value: str) -> None:
        _cli(redis_cluster.alive()[0], "-c", "SET", key, value)

    await exercise_every_part(settings, set_session=set_session)
    for port in redis_cluster.alive():
        assert _cli(port, "ACL", "LOG") == "", port


@pytest.mark.slow
async def test_documented_acl_and_sentinel_auth_on_sentinel() -> None:
    """Sentinel with a password on the sentinels (``sentinel_password``) and the documented
    ACL user on the master and its replica (``username``/``password``): every part works as on
    one Redis and nothing is refused; a wrong sentinel password finds no master."""
    topology = start_sentinel_topology(sentinel_password="sentinel-secret")
    try:
        for server in (topology.master, topology.replica):
            server.cli("ACL", "SETUSER", "roomkey", *documented_acl())
        settings = topology.settings(
            prefix="roomkey",
            username="roomkey",
            password=PASSWORD,
            sentinel_password="sentinel-secret",
        )

        def set_session(key: str, value: str) -> None:
            topology.master.cli("SET", key, value)

        await exercise_every_part(settings, set_session=set_session)
        assert topology.master.cli("ACL", "LOG") == ""
        wrong = RedisPresenceStore(replace(settings, sentinel_password="wrong"), "node-c")
        await wrong.start()
        try:
            with pytest.raises(ServiceUnavailable):
                await wrong.channels("1")
        finally:
            await wrong.close()
    finally:
        stop_sentinel_topology(topology)
