"""The least-privilege Redis ACL documented in docs/deployment.md is enough for roomkey, and
keeps it inside its prefix."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import NoPermissionError

from roomkey.broker.redis import RedisBroker
from roomkey.presence.redis import RedisPresenceStore
from roomkey.protocol import ChannelEvent
from tests.conftest import RedisServer, start_redis, stop_redis
from tests.test_backends_contract import Recorder, redis_settings, wait_until

ACL = (
    "on >roomkey-acl-password ~roomkey:* &roomkey:* -@all +@read +@write +@pubsub "
    "+@scripting +ping +time +client|setname +select"
).split()


@pytest.fixture
def acl_redis() -> Iterator[RedisServer]:
    server = start_redis()
    yield server
    stop_redis(server)


async def test_documented_acl_suffices(acl_redis: RedisServer) -> None:
    acl_redis.cli("ACL", "SETUSER", "roomkey", *ACL)
    url = f"redis://roomkey:roomkey-acl-password@127.0.0.1:{acl_redis.port}/0"
    settings = redis_settings(url, prefix="roomkey")
    store = RedisPresenceStore(settings, "node-a")
    broker, other = RedisBroker(settings, "node-a"), RedisBroker(settings, "node-b")
    rec = Recorder()
    other.set_handler(rec.deliver)
    store.set_connection_counter(lambda: {"1": 2})  # shared on each beat
    for part in (store, broker, other):
        await part.start()
    try:
        await wait_until(lambda: broker.ready and other.ready)
        joined = await store.join("1", "presence-acl", "1.1", "u1", {"n": 1}, 100)
        assert joined.first
        assert await store.add_subscriber("1", "presence-acl", "1.1") == 1
        await store.beat()
        await other.listen("1", "private-acl")
        await broker.publish("1", ChannelEvent("private-acl", "e", "d"))
        await wait_until(lambda: len(rec.deliveries) == 1)
        assert await store.leave("1", "presence-acl", "1.1") == "u1"
    finally:
        for part in (store, broker, other):
            await part.close()
    # The same user cannot touch keys outside the prefix.
    client = aioredis.Redis.from_url(url)
    try:
        with pytest.raises(NoPermissionError):
            await client.set("other:key", "1")
    finally:
        await client.aclose()
