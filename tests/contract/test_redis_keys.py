"""Redis key names cannot collide: apps whose ids once made the same key name (``1`` and
``1:subs``) keep apart on a real redis-server, and a key of the wrong type is reported as the
bug it is (4300, logged, counted), not as an outage (4200)."""

from __future__ import annotations

import logging
from dataclasses import replace

import aiohttp
import pytest
from redis.crc import key_slot

from roomkey.cluster.redis import RedisNodeRegistry
from roomkey.config import RateLimits, Settings
from roomkey.core.errors import BackendError, RateLimited
from roomkey.presence.redis import RedisPresenceStore
from roomkey.ratelimit.redis import RedisRateLimiter
from roomkey.ratelimit.throttle import Throttle
from roomkey.redis_keys import RedisKeys, rate_window
from tests.support.apps import APP_ID, make_settings
from tests.support.backends import redis_settings
from tests.support.metrics import sample
from tests.support.redis_server import RedisServer
from tests.support.servers import StartServer
from tests.support.socketio_client import ConnectClient
from tests.support.waiting import wait_for_condition


def colliding_apps(url: str) -> Settings:
    """Apps ``1`` and ``1:subs``, built in code (the config file refuses ``1:subs``, but an
    embedding application can still pass such settings): their keys used to be
    ``{p}:1:subs:channels`` (app 1's subscribers of ``channels``, a set) and
    ``{p}:1:subs:channels`` (app 1:subs' occupied channels, a hash)."""
    base = make_settings()
    one = replace(base.apps[0], id="1", key="key-one")
    other = replace(base.apps[0], id="1:subs", key="key-subs")
    return replace(base, apps=(one, other), redis=redis_settings(url))


@pytest.mark.redis
async def test_app_ids_that_once_shared_key_names_keep_apart(
    start_server: StartServer, connect: ConnectClient, redis_server: RedisServer
) -> None:
    server = await start_server(colliding_apps(redis_server.url))
    await wait_for_condition(lambda: server.runtime.hub.broker.ready, "the broker ready")
    one = await connect(server, key="key-one")
    other = await connect(server, key="key-subs")
    assert await one.subscribe("channels") == {"channel": "channels"}
    assert await other.subscribe("channels") == {"channel": "channels"}
    assert await other.subscribe("private-room") != {"channel": "private-room"}  # needs auth
    assert await other.subscribe("lobby") == {"channel": "lobby"}
    hub, apps = server.runtime.hub, server.runtime.apps
    assert await hub.presence.channels("1") == {"channels": 1}
    assert await hub.presence.channels("1:subs") == {"channels": 1, "lobby": 1}
    await hub.publish(apps.by_id("1:subs"), ["channels"], "e", "for 1:subs")
    assert (await other.next("event"))["data"] == "for 1:subs"
    await one.nothing("event", within=0.2)


@pytest.mark.redis
async def test_rate_limit_counters_of_two_apps_keep_apart(redis_server: RedisServer) -> None:
    """User ``x:42`` of app ``1`` and user ``42`` of app ``1:x`` once shared one counter."""
    settings = colliding_apps(redis_server.url)
    one = replace(settings.apps[0], id="1")
    other = replace(settings.apps[0], id="1:x")
    limiter = RedisRateLimiter(redis_server.url, prefix=settings.redis.prefix, timeout=2.0)
    throttle = Throttle(RateLimits(authorize_per_minute_per_user=1), limiter)
    await throttle.start()
    try:
        await throttle.authorize_user(one, "x:42")
        await throttle.authorize_user(other, "42")  # its own first call: allowed
        try:
            await throttle.authorize_user(other, "42")
        except RateLimited:
            pass
        else:
            raise AssertionError("the second call of the same user was not limited")
    finally:
        await throttle.close()


@pytest.mark.redis
async def test_a_key_of_the_wrong_type_is_a_bug_not_an_outage(
    start_server: StartServer,
    connect: ConnectClient,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis answers WRONGTYPE: the subscribe is refused as an internal error (4300, not 4200:
    reconnecting would not help), nothing else changes, ``/readyz`` stays ready (Redis is
    there), and the refusal is logged and counted under its own reason."""
    settings = replace(make_settings(), redis=redis_settings(redis_server.url))
    server = await start_server(settings)
    await wait_for_condition(lambda: server.runtime.hub.broker.ready, "the broker ready")
    keys = RedisKeys(settings.redis.prefix)
    redis_server.cli("SET", keys.subscribers(APP_ID, "lobby"), "not a set")
    client = await connect(server)
    with caplog.at_level(logging.INFO):
        answer = await client.subscribe("lobby")
    assert answer["error"]["code"] == BackendError.code == 4300
    assert answer["error"]["message"] == "internal error: redis refused add_subscriber (WRONGTYPE)"
    assert "lobby" not in server.runtime.hub.connections[client.socket_id].channels
    assert await client.subscribe("lobby-2") == {"channel": "lobby-2"}
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/readyz") as resp:
        assert resp.status == 200
    metrics = server.runtime.metrics.render().decode()
    assert sample(metrics, "roomkey_refusals_total", reason="backend_error") == 1
    refused = [r for r in caplog.records if r.getMessage() == "redis refused a command"]
    # The refused SADD, then the undo's refused SREM (the same key): one error line each.
    assert [(r.levelno, r.roomkey_fields) for r in refused] == [  # type: ignore[attr-defined]
        (logging.ERROR, {"command": "add_subscriber", "answer": "WRONGTYPE"}),
        (logging.ERROR, {"command": "remove_subscriber", "answer": "WRONGTYPE"}),
    ]
    assert "not a set" not in caplog.text


# App ids, channels, node ids and subjects chosen to break naive layouts: separators,
# braces, percent signs (the encoding's own escape), empty strings, and an id that reads
# like another's encoding.
HOSTILE = ["1", "1:subs", "subs", "1}", "{1", "}:", ":", "", "1%3Asubs", "1%253Asubs", ".x", "a~b"]


def test_no_two_things_share_a_name_whatever_the_ids_and_channels() -> None:
    keys = RedisKeys("roomkey")
    names: list[str] = []
    for app_id in HOSTILE:
        names.append(keys.channels(app_id))
        for tail in [*HOSTILE, "channels", "x:sockets", "presence-a:users"]:
            names.append(keys.subscribers(app_id, tail))
            names.extend(keys.presence(app_id, tail))
            names.append(keys.events(app_id, tail).decode())
            for limit in ("auth-addr", "auth-user", "conn-addr"):
                names.append(keys.rate(rate_window(limit, app_id, tail)))
        names.append(keys.rate(rate_window("rest", app_id)))
        names.extend(keys.webhooks(app_id))
        names.extend(keys.webhooks(app_id, "hook"))
    for node_id in HOSTILE:
        names += [keys.node_apps(node_id), keys.node_connections(node_id)]
        names += [keys.node_entries(app_id, node_id) for app_id in HOSTILE]
        names.append(keys.ping(node_id).decode())
        names += [keys.shard_ping(node_id, i).decode() for i in (0, 1, 10)]
    names += [keys.nodes, keys.control.decode()]
    assert len(names) == len(set(names))
    assert all(n.startswith("roomkey:") for n in names)
    # A safe app id is written as it is, in its hash tag; the channel comes last.
    assert keys.subscribers("1", "private-a") == "roomkey:subs:{1}:private-a"
    assert keys.subscribers("1:subs", "x") == "roomkey:subs:{1%3Asubs}:x"


def test_every_script_touches_one_slot_and_channels_spread() -> None:
    """In a Redis Cluster each script's keys share one hash tag (the app's), so they live in
    one slot; a channel's pub/sub name has a tag of its own, so one app's channels spread."""
    keys = RedisKeys("roomkey")
    for app_id in HOSTILE:
        for channel in ["presence-a", "x:y", "}{", "private-1"]:
            script_keys = [
                keys.subscribers(app_id, channel),
                keys.channels(app_id),
                *keys.presence(app_id, channel),
                keys.node_entries(app_id, "node-a"),
            ]
            assert len({key_slot(k.encode()) for k in script_keys}) == 1
            assert keys.events(app_id, channel).count(b"}") == 1
    slots = {key_slot(keys.events("1", f"private-{i}")) for i in range(100)}
    assert len(slots) > 50
    assert keys.events("1", "private-a") == b"roomkey:events:{1:private-a}"


@pytest.mark.parametrize("prefix", ["", "roomkey:prod", "{rk}", "rk*", "rk prod", "-rk"])
def test_an_unsafe_prefix_is_refused_even_in_code(prefix: str) -> None:
    with pytest.raises(ValueError, match="redis prefix"):
        RedisKeys(prefix)


@pytest.mark.redis
async def test_a_refused_command_does_not_stop_a_store_closing(redis_server: RedisServer) -> None:
    """Closing unregisters the node; when Redis refuses that (here WRONGTYPE on the node's
    entries), the shutdown goes on and the node is left to the others' sweep."""
    settings = redis_settings(redis_server.url)
    store = RedisPresenceStore(settings, "node-x")
    nodes = RedisNodeRegistry(settings, "node-x", store)
    await store.start()
    await nodes.start()
    redis_server.cli("SET", RedisKeys(settings.prefix).node_apps("node-x"), "not a set")
    await nodes.close()
    await store.close()
