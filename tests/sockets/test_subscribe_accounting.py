"""``max_channels_per_connection`` counts each channel once while its subscribe is in
progress: with Redis, where a subscribe awaits the broker and the presence store, a channel
being joined was counted both as pending and as joined, and 100 concurrent subscribes on one
socket with a limit of 100 saw about half refused."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import replace
from typing import Any

import pytest

from roomkey.config import Limits, RedisSettings
from tests.support.apps import make_settings
from tests.support.redis_server import RedisServer
from tests.support.servers import StartServer
from tests.support.socketio_client import ConnectClient

LIMIT = 100


@pytest.mark.redis
async def test_concurrent_subscribes_count_each_channel_once_with_redis(
    start_server: StartServer, connect: ConnectClient, redis_server: RedisServer
) -> None:
    settings = replace(
        make_settings(limits=Limits(max_channels_per_connection=LIMIT)),
        redis=RedisSettings(url=redis_server.url, prefix=f"t{secrets.token_hex(4)}"),
    )
    server = await start_server(settings)
    client = await connect(server)
    extra = 10
    answers: list[Any] = await asyncio.gather(
        *(
            client.call("subscribe", {"channel": f"public-{i}"}, timeout=30)
            for i in range(LIMIT + extra)
        )
    )
    joined = [a for a in answers if "channel" in a]
    refused = [a["error"] for a in answers if "error" in a]
    assert len(joined) == LIMIT, refused[:3]
    assert len(refused) == extra
    assert {e["code"] for e in refused} == {4100}
    conn = server.runtime.hub.connections[client.socket_id]
    assert len(conn.channels) == LIMIT
    assert not conn.pending
    # One more, now that nothing is in progress: still over the limit.
    assert (await client.subscribe("public-late"))["error"]["code"] == 4100
    # Leaving one makes room for one.
    assert await client.call("unsubscribe", {"channel": joined[0]["channel"]}) == joined[0]
    assert await client.subscribe("public-late") == {"channel": "public-late"}
