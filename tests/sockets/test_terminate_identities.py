"""REST ``terminate_connections`` reaches every socket that carries the user's identity: a JWT
or a session cookie at the handshake, or a sign-in; on both transports and on every node of a
cluster sharing a real redis-server."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from roomkey.config import SessionSettings
from tests.support.apps import APP_ID, make_settings, make_token
from tests.support.backends import redis_settings
from tests.support.pusher import RawPusher, RawPusherFactory, user_auth
from tests.support.redis_server import RedisServer
from tests.support.rest import signed_post
from tests.support.servers import Server, StartServer
from tests.support.socketio_client import ConnectClient, SioClient
from tests.support.waiting import wait_for_condition


def session_cookie(session_id: str) -> dict[str, str]:
    """A new dict each time: the Socket.IO client takes the Cookie header out of the dict."""
    return {"Cookie": f"AIOHTTP_SESSION={session_id}"}


async def terminate(server: Server, user_id: str) -> None:
    answer = await signed_post(server, f"/apps/{APP_ID}/users/{user_id}/terminate_connections", {})
    assert answer.status == 200, answer.body
    assert answer.body == {}


async def assert_terminated_sio(client: SioClient) -> None:
    error = await client.next("error", timeout=5)
    assert error == {"code": 4009, "message": "connection terminated by the app"}
    await client.wait_disconnected(timeout=5)


async def assert_terminated_pusher(client: RawPusher) -> None:
    error = await client.next_event("pusher:error", timeout=5)
    assert error["data"]["code"] == 4009
    assert await client.closed_with() == 4009


async def test_terminate_reaches_token_cookie_and_signed_in_sockets(
    server: Server, connect: ConnectClient, raw_pusher: RawPusherFactory
) -> None:
    sessions = server.runtime.sessions
    assert sessions is not None
    session_id = await sessions.save({"user_id": "u1"})
    by_token = await connect(server, token=make_token("u1"))
    by_cookie = await connect(server, headers=session_cookie(session_id))
    signed_in = await connect(server)
    assert "user_data" in await signed_in.call(
        "signin", await user_auth(server, signed_in.socket_id, "u1")
    )
    pusher_by_cookie = await raw_pusher.established(server, headers=session_cookie(session_id))
    other = await connect(server, token=make_token("u2"))
    anonymous = await connect(server)

    await terminate(server, "u1")
    # Read every socket at once: a Pusher client that does not read cannot answer the close.
    await asyncio.gather(
        *(assert_terminated_sio(c) for c in (by_token, by_cookie, signed_in)),
        assert_terminated_pusher(pusher_by_cookie),
    )
    assert other.client.connected and anonymous.client.connected
    hub = server.runtime.hub
    await wait_for_condition(
        lambda: set(hub.connections) == {other.socket_id, anonymous.socket_id},
        "only the other user's and the anonymous socket left",
    )
    # The registry forgets closed sockets: nothing is left for u1.
    assert hub.user_connections(APP_ID, "u1") == []
    assert [c.socket_id for c in hub.user_connections(APP_ID, "u2")] == [other.socket_id]


@pytest.mark.redis
async def test_terminate_reaches_every_node(
    start_server: StartServer,
    connect: ConnectClient,
    raw_pusher: RawPusherFactory,
    redis_server: RedisServer,
) -> None:
    settings = replace(
        make_settings(),
        redis=redis_settings(redis_server.url),
        session=SessionSettings(store="redis", redis_url=redis_server.url),
    )
    a, b = [await start_server(settings) for _ in range(2)]
    await wait_for_condition(
        lambda: a.runtime.hub.broker.ready and b.runtime.hub.broker.ready,
        "both nodes' brokers ready",
    )
    sessions = a.runtime.sessions
    assert sessions is not None
    session_id = await sessions.save({"user_id": "u1"})
    on_a = await connect(a, token=make_token("u1"))
    on_b_token = await connect(b, token=make_token("u1"))
    # The session was written through node a; node b reads it from the same Redis.
    on_b_cookie = await connect(b, headers=session_cookie(session_id))
    on_b_signed_in = await connect(b)
    assert "user_data" in await on_b_signed_in.call(
        "signin", await user_auth(b, on_b_signed_in.socket_id, "u1")
    )
    pusher_on_b = await raw_pusher.established(b, headers=session_cookie(session_id))
    stays = [await connect(node, token=make_token("u2")) for node in (a, b)]

    await terminate(a, "u1")
    await asyncio.gather(
        *(assert_terminated_sio(c) for c in (on_a, on_b_token, on_b_cookie, on_b_signed_in)),
        assert_terminated_pusher(pusher_on_b),
    )
    assert all(c.client.connected for c in stays)
    await wait_for_condition(
        lambda: len(a.runtime.hub.connections) == 1, "node a to keep one socket"
    )
    await wait_for_condition(
        lambda: len(b.runtime.hub.connections) == 1, "node b to keep one socket"
    )
