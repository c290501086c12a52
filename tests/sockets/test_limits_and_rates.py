"""Quotas and rate limits end to end: real server on loopback, real Socket.IO clients."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import aiohttp
import pytest
import socketio

from roomkey.config import Limits, RateLimits, ServerSettings
from roomkey.core.signing import sign_channel
from tests.support.apps import APP_KEY, APP_SECRET, make_settings, make_token
from tests.support.servers import StartServer
from tests.support.socketio_client import ConnectClient
from tests.support.waiting import wait_for_condition


def limited(limits: Limits | None = None, rates: RateLimits | None = None, **app: Any) -> Any:
    s = make_settings(limits=limits or Limits(), **app)
    return replace(s, rate_limits=rates or RateLimits())


async def auth(url: str, socket_id: str, channel: str, user: str = "7", **headers: str) -> Any:
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{url}/pusher/auth",
            data={"socket_id": socket_id, "channel_name": channel},
            headers={"Authorization": f"Bearer {make_token(user)}", **headers},
        )
        return resp.status, dict(resp.headers), await resp.json()


async def refused_connect(url: str, **headers: str) -> Any:
    client = socketio.AsyncClient(reconnection=False)
    errors: list[Any] = []
    client.on("connect_error", lambda data=None: errors.append(data))
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(
            url, auth={"key": APP_KEY}, headers=headers, transports=["websocket"], wait_timeout=5
        )
    http = getattr(client.eio, "http", None)
    if http is not None and not http.closed:
        await http.close()
    return errors[0] if errors else None


async def test_authorize_per_user_rate_is_429_with_retry_after(start_server: StartServer) -> None:
    server = await start_server(limited(rates=RateLimits(authorize_per_minute_per_user=2)))
    for _ in range(2):
        status, _, _ = await auth(server.url, "1.1", "private-user-7")
        assert status == 200
    status, headers, body = await auth(server.url, "1.1", "private-user-7")
    assert status == 429
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert "authorize_per_minute_per_user" in body["error"]["message"]
    metrics = server.runtime.metrics.render().decode()
    assert 'roomkey_rate_limited_total{limit="authorize_per_minute_per_user"} 1.0' in metrics
    # Another user from the same address is not affected.
    status, _, _ = await auth(server.url, "1.1", "private-user-8", user="8")
    assert status == 200


async def test_authorize_per_address_uses_forwarded_for_only_behind_trusted_proxy(
    start_server: StartServer,
) -> None:
    settings = replace(
        limited(rates=RateLimits(authorize_per_minute_per_address=1)),
        server=ServerSettings(trusted_proxies=("127.0.0.1/32",)),
    )
    server = await start_server(settings)
    hdr = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}
    assert (await auth(server.url, "1.1", "private-user-7", **hdr))[0] == 200
    assert (await auth(server.url, "1.1", "private-user-7", **hdr))[0] == 429
    # A different client address behind the same proxy has its own budget; the spoofable
    # left-hand entry does not matter, the rightmost untrusted one does.
    other = {"X-Forwarded-For": "198.51.100.1, 203.0.113.10"}
    assert (await auth(server.url, "1.1", "private-user-7", **other))[0] == 200


async def test_forwarded_for_ignored_from_untrusted_peer(start_server: StartServer) -> None:
    server = await start_server(limited(rates=RateLimits(authorize_per_minute_per_address=1)))
    assert (await auth(server.url, "1.1", "private-user-7", **{"X-Forwarded-For": "10.0.0.1"}))[
        0
    ] == 200
    assert (await auth(server.url, "1.1", "private-user-7", **{"X-Forwarded-For": "10.0.0.2"}))[
        0
    ] == 429


async def test_connections_per_address_refused_with_code(
    start_server: StartServer, connect: ConnectClient
) -> None:
    server = await start_server(limited(rates=RateLimits(connections_per_minute_per_address=2)))
    await connect(server)
    await connect(server)
    error = await refused_connect(server.url)
    assert error["code"] == 4100
    assert "connections_per_minute_per_address" in error["message"]
    assert len(server.runtime.hub.connections) == 2


async def test_connection_quota_per_app_is_4004(
    start_server: StartServer, connect: ConnectClient
) -> None:
    server = await start_server(limited(Limits(max_connections=1)))
    await connect(server)
    error = await refused_connect(server.url)
    assert error["code"] == 4004
    assert len(server.runtime.hub.connections) == 1


async def test_subscribes_per_connection_rate(
    start_server: StartServer, connect: ConnectClient
) -> None:
    server = await start_server(limited(rates=RateLimits(subscribes_per_minute_per_connection=2)))
    client = await connect(server)
    assert await client.subscribe("public-a") == {"channel": "public-a"}
    assert await client.subscribe("public-b") == {"channel": "public-b"}
    answer = await client.subscribe("public-c")
    assert answer["error"]["code"] == 4100
    assert "subscribes_per_minute_per_connection" in answer["error"]["message"]
    conn = server.runtime.hub.connections[client.socket_id]
    assert set(conn.channels) == {"public-a", "public-b"}
    # Another connection is not affected.
    other = await connect(server)
    assert await other.subscribe("public-c") == {"channel": "public-c"}


async def test_channels_per_connection_quota_names_the_limit(
    start_server: StartServer, connect: ConnectClient
) -> None:
    server = await start_server(limited(Limits(max_channels_per_connection=2)))
    client = await connect(server)
    await client.subscribe("a")
    await client.subscribe("b")
    answer = await client.subscribe("c")
    assert answer["error"]["code"] == 4100
    assert "2 channels per connection" in answer["error"]["message"]
    assert set(server.runtime.hub.connections[client.socket_id].channels) == {"a", "b"}


async def test_presence_members_quota(start_server: StartServer, connect: ConnectClient) -> None:
    server = await start_server(limited(Limits(max_presence_members=1)))
    first = await connect(server, token=make_token("1"))
    assert "presence" in await first.subscribe("presence-room")
    second = await connect(server, token=make_token("2"))
    answer = await second.subscribe("presence-room")
    assert answer["error"]["code"] == 4100
    assert server.runtime.hub.connections[second.socket_id].channels == {}
    await first.nothing("member_added", within=0.2)


async def test_user_id_and_user_info_sizes(
    start_server: StartServer, connect: ConnectClient
) -> None:
    server = await start_server(limited(Limits(max_user_id_chars=4, max_user_info_bytes=20)))
    client = await connect(server)
    for data, words in (
        ('{"user_id":"12345"}', "user_id"),
        ('{"user_id":"1","user_info":{"name":"' + "x" * 40 + '"}}', "user_info"),
    ):
        signed = sign_channel(APP_KEY, APP_SECRET, client.socket_id, "presence-x", data)
        answer = await client.subscribe("presence-x", auth=signed, channel_data=data)
        assert answer["error"]["code"] == 4100
        assert words in answer["error"]["message"]
    assert server.runtime.hub.connections[client.socket_id].channels == {}


async def test_client_event_data_size(start_server: StartServer, connect: ConnectClient) -> None:
    server = await start_server(limited(Limits(max_event_data_bytes=10)))
    client = await connect(server, token=make_token("7"))
    await client.subscribe("private-user-7")
    answer = await client.call(
        "trigger", {"channel": "private-user-7", "event": "client-x", "data": "y" * 50}
    )
    assert answer["error"]["code"] == 4301
    assert "10 bytes" in answer["error"]["message"]


async def test_socketio_message_over_limit_is_an_error_then_a_close(
    start_server: StartServer, connect: ConnectClient
) -> None:
    server = await start_server(limited(Limits(max_socketio_message_bytes=1000)))
    client = await connect(server)
    bystander = await connect(server)
    answer = await client.subscribe("public-a", padding="x" * 1500)
    assert answer["error"]["code"] == 4100
    assert "max_socketio_message_bytes" in answer["error"]["message"]
    assert server.runtime.hub.connections[client.socket_id].channels == {}
    # Over twice the largest app limit (the other app has the 64 KB default): Engine.IO
    # drops the socket; the server and the other clients carry on.
    await client.client.emit("subscribe", {"channel": "public-b", "padding": "x" * 200_000})
    await wait_for_condition(
        lambda: client.socket_id not in server.runtime.hub.connections, "the socket dropped"
    )
    assert client.socket_id not in server.runtime.hub.connections
    assert await bystander.subscribe("public-b") == {"channel": "public-b"}


@pytest.mark.redis
async def test_redis_rate_limits_are_shared_by_every_node(
    start_server: StartServer, connect: ConnectClient, redis_server: Any
) -> None:
    import secrets

    from roomkey.config import RedisSettings

    settings = replace(
        limited(rates=RateLimits(connections_per_minute_per_address=2)),
        redis=RedisSettings(url=redis_server.url, prefix=f"t{secrets.token_hex(4)}"),
    )
    one = await start_server(settings)
    two = await start_server(settings)
    await connect(one)
    await connect(two)
    for node in (one, two):
        error = await refused_connect(node.url)
        assert error["code"] == 4100
    assert len(one.runtime.hub.connections) == len(two.runtime.hub.connections) == 1
