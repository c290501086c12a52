"""A socket's handshake identity lives no longer than its credential: a JWT identity stops
authorizing subscribes at the token's ``exp`` (and ``refresh`` presents a new token for the
same user without reconnecting); a session identity stops within ``session.recheck_seconds``
of the session's deletion (logout), on both transports and with the Redis session store."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from typing import Any

import jwt as pyjwt
import pytest

from roomkey.config import ConfigError, SessionSettings, Settings, parse_settings
from roomkey.identity.base import SessionStore
from tests.support.apps import JWT_SECRET, make_settings, make_token
from tests.support.backends import MEMORY_AND_REDIS
from tests.support.pusher import RawPusherFactory
from tests.support.redis_server import RedisServer
from tests.support.servers import Server, StartServer
from tests.support.socketio_client import ConnectClient, SioClient
from tests.support.waiting import wait_for_condition


def token_expiring_at(user_id: str, exp: int, **claims: Any) -> str:
    return pyjwt.encode({"sub": user_id, "exp": exp, **claims}, JWT_SECRET, algorithm="HS256")


async def wait_until_past(unix_seconds: float, within: float = 10.0) -> None:
    """Wait until the wall clock is past ``unix_seconds`` (a token's ``exp``)."""
    await wait_for_condition(
        lambda: time.time() > unix_seconds, "the clock to pass the token's exp", timeout=within
    )


def expires_soon() -> int:
    """An ``exp`` 3 to 4 seconds ahead: enough to connect and subscribe on a busy machine,
    short enough to wait for."""
    return int(time.time()) + 4


def with_sessions(base: Settings, **session: Any) -> Settings:
    return replace(base, session=SessionSettings(**session))


# -- JWT identities end with their token ------------------------------------------------------


@pytest.mark.slow
async def test_a_token_identity_stops_authorizing_at_exp(
    server: Server, connect: ConnectClient
) -> None:
    exp = expires_soon()
    client = await connect(server, token=token_expiring_at("7", exp, name="Ada"))
    assert await client.subscribe("private-user-7") == {"channel": "private-user-7"}
    await wait_until_past(exp)
    for channel in ("private-encrypted-user-7", "presence-lobby", "private-room"):
        answer = await client.subscribe(channel)
        assert answer["error"]["code"] == 4009, channel
        assert "token has expired" in answer["error"]["message"]
        assert "refresh" in answer["error"]["message"]
    conn = server.runtime.hub.connections[client.socket_id]
    assert set(conn.channels) == {"private-user-7"}  # what it joined in time stays
    # Nothing else changed: the socket is open, public channels and signed subscribes work.
    assert client.client.connected
    assert await client.subscribe("news") == {"channel": "news"}


@pytest.mark.slow
async def test_refresh_replaces_the_token_for_the_same_user(
    server: Server, connect: ConnectClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    exp = expires_soon()
    client = await connect(server, token=token_expiring_at("7", exp, name="Ada"))
    fresh = make_token("7", name="Ada L.")
    assert await client.call("refresh", {"token": fresh}) == {}
    await wait_until_past(exp)
    ack = await client.subscribe("presence-lobby")
    assert ack["presence"]["hash"] == {"7": {"name": "Ada L."}}  # the new token's claims
    assert await client.subscribe("private-encrypted-user-7") == {
        "channel": "private-encrypted-user-7"
    }
    # A second refresh, after the first token's end, is fine too.
    assert await client.call("refresh", {"token": make_token("7")}) == {}
    assert fresh not in caplog.text


async def test_refresh_refusals_change_nothing(
    server: Server, connect: ConnectClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    client = await connect(server, token=make_token("7"))
    other = make_token("8")
    answer = await client.call("refresh", {"token": other})
    assert answer["error"]["code"] == 4009
    assert "another user" in answer["error"]["message"]
    cases = [
        ({"token": "not.a.jwt"}, 4009, "invalid token"),
        ({"token": make_token("7", expires_in=-60)}, 4009, "token has expired"),
        ({"token": make_token("7", secret="another-secret-0123456789-0123456789")}, 4009, ""),
        ({}, 4300, "token"),
        ({"token": 5}, 4300, "token"),
        ("text", 4300, "object"),
    ]
    for payload, code, words in cases:
        answer = await client.call("refresh", payload)
        assert answer["error"]["code"] == code, payload
        assert words in answer["error"]["message"], payload
    conn = server.runtime.hub.connections[client.socket_id]
    assert conn.identity is not None and conn.identity.user_id == "7"
    assert await client.subscribe("private-user-7") == {"channel": "private-user-7"}
    assert "refused refresh" in caplog.text  # the refusals were logged, without the tokens
    assert other not in caplog.text


async def test_refresh_needs_a_token_identity(
    start_server: StartServer, connect: ConnectClient
) -> None:
    server = await start_server(make_settings())
    anonymous = await connect(server)
    answer = await anonymous.call("refresh", {"token": make_token("7")})
    assert answer["error"]["code"] == 4009
    assert server.runtime.hub.connections[anonymous.socket_id].identity is None
    sessions = server.runtime.sessions
    assert sessions is not None
    cookie = await sessions.save({"user_id": "7"})
    by_cookie = await connect(server, headers={"Cookie": f"AIOHTTP_SESSION={cookie}"})
    answer = await by_cookie.call("refresh", {"token": make_token("7")})
    assert answer["error"]["code"] == 4009
    assert server.runtime.hub.connections[by_cookie.socket_id].identity.source == "session"  # type: ignore[union-attr]


# -- session identities end with the session ------------------------------------------------


@pytest.fixture(params=MEMORY_AND_REDIS)
def store(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "memory":
        return {}
    redis_server: RedisServer = request.getfixturevalue("redis_server")
    return {"store": "redis", "redis_url": redis_server.url}


async def logged_in_socket(
    server: Server, connect: ConnectClient, session: dict[str, Any]
) -> tuple[SessionStore, str, SioClient]:
    """A session saved in the server's store and a Socket.IO client identified by its cookie."""
    sessions = server.runtime.sessions
    assert sessions is not None
    session_id = await sessions.save(session)
    client = await connect(server, headers={"Cookie": f"AIOHTTP_SESSION={session_id}"})
    return sessions, session_id, client


async def test_logout_stops_a_socket_identity_at_once_with_recheck_zero(
    start_server: StartServer, connect: ConnectClient, store: dict[str, Any]
) -> None:
    server = await start_server(with_sessions(make_settings(), recheck_seconds=0, **store))
    sessions, session_id, client = await logged_in_socket(
        server, connect, {"user_id": "77", "name": "Sam"}
    )
    assert await client.subscribe("private-user-77") == {"channel": "private-user-77"}
    await sessions.delete(session_id)  # logout
    answer = await client.subscribe("private-encrypted-user-77")
    assert answer["error"]["code"] == 4009
    assert "session" in answer["error"]["message"]
    assert set(server.runtime.hub.connections[client.socket_id].channels) == {"private-user-77"}


async def test_logout_stops_a_socket_identity_within_the_recheck_bound(
    start_server: StartServer, connect: ConnectClient, store: dict[str, Any]
) -> None:
    bound = 0.5
    server = await start_server(with_sessions(make_settings(), recheck_seconds=bound, **store))
    sessions, session_id, client = await logged_in_socket(server, connect, {"user_id": "77"})
    conn = server.runtime.hub.connections[client.socket_id]
    await sessions.delete(session_id)
    # Past the bound since the last confirmation, the next subscribe reads the session again.
    await wait_for_condition(
        lambda: time.monotonic() > conn.identity_checked + bound,
        "the recheck bound to pass",
        timeout=10,
    )
    answer = await client.subscribe("private-encrypted-user-77")
    assert answer["error"]["code"] == 4009
    assert conn.channels == {}


async def test_a_live_session_is_reread_and_keeps_authorizing(
    start_server: StartServer, connect: ConnectClient, store: dict[str, Any]
) -> None:
    server = await start_server(with_sessions(make_settings(), recheck_seconds=0, **store))
    _sessions, _session_id, client = await logged_in_socket(
        server, connect, {"user_id": "77", "name": "Sam"}
    )
    for channel in ("private-user-77", "private-encrypted-user-77", "presence-lobby"):
        answer = await client.subscribe(channel)
        assert answer["channel"] == channel, answer


@pytest.mark.redis
async def test_a_session_that_now_names_another_user_no_longer_identifies(
    start_server: StartServer, connect: ConnectClient, redis_server: RedisServer
) -> None:
    settings = with_sessions(
        make_settings(), store="redis", redis_url=redis_server.url, recheck_seconds=0
    )
    server = await start_server(settings)
    _sessions, session_id, client = await logged_in_socket(server, connect, {"user_id": "77"})
    # The application logs another user in under the same session id.
    record = json.dumps({"created": int(time.time()), "session": {"user_id": "78"}})
    redis_server.cli("SET", f"AIOHTTP_SESSION_{session_id}", record)
    for channel in ("private-user-77", "private-user-78"):
        answer = await client.subscribe(channel)
        assert answer["error"]["code"] == 4009
        assert "another user" in answer["error"]["message"]
    assert server.runtime.hub.connections[client.socket_id].identity.user_id == "77"  # type: ignore[union-attr]


async def test_the_pusher_transport_applies_the_session_rule(
    start_server: StartServer, raw_pusher: RawPusherFactory, store: dict[str, Any]
) -> None:
    server = await start_server(with_sessions(make_settings(), recheck_seconds=0, **store))
    sessions = server.runtime.sessions
    assert sessions is not None
    session_id = await sessions.save({"user_id": "77"})
    client = await raw_pusher.established(
        server, headers={"Cookie": f"AIOHTTP_SESSION={session_id}"}
    )
    ok = await client.subscribe("private-user-77")
    assert ok["event"] == "pusher_internal:subscription_succeeded"
    await sessions.delete(session_id)
    refused = await client.subscribe("private-encrypted-user-77")
    assert refused["event"] == "pusher:subscription_error"
    assert refused["data"]["code"] == 4009
    error = await client.next()
    assert error["event"] == "pusher:error" and error["data"]["code"] == 4009
    assert not client.ws.closed


def test_recheck_seconds_is_a_short_bound_checked_with_its_path() -> None:
    app = {"id": "1", "key": "k", "secret": "s" * 16}
    assert parse_settings({"apps": [app]}).session.recheck_seconds == 5.0
    assert parse_settings({"apps": [app], "session": {"recheck_seconds": 0}}).session == (
        SessionSettings(recheck_seconds=0.0)
    )
    for value, expected in (
        (-1, "session.recheck_seconds: must be at least 0"),
        ("5", "session.recheck_seconds: must be a number"),
        (301, "session.recheck_seconds: must be at most 300"),
    ):
        with pytest.raises(ConfigError) as err:
            parse_settings({"apps": [app], "session": {"recheck_seconds": value}})
        assert any(e.startswith(expected) for e in err.value.errors), err.value.errors
