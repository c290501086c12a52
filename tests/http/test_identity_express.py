"""express-session with connect-redis as identity: the real Express app (express,
express-session, connect-redis) logs a user in, and its signed ``connect.sid`` cookie then
authorizes at roomkey's authorize endpoint and identifies the socket at the handshake, on
the memory and the Redis backends; a logout ends it. Rotated secrets keep older cookies
valid. Hostile cookies and sessions (tampered, unsigned, re-signed with another secret,
truncated, oversized, not in Redis, not a JSON object, expired) are refused with 4009 and
never logged."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

import aiohttp
import pytest

from roomkey.config import SessionSettings, Settings
from roomkey.identity.signed_cookies import sign
from tests.support.apps import make_settings
from tests.support.authorize import post_auth
from tests.support.backends import redis_settings
from tests.support.express_app import ExpressApp, running_express
from tests.support.metrics import sample
from tests.support.redis_server import RedisServer
from tests.support.servers import StartServer
from tests.support.socketio_client import ConnectClient, refused

pytestmark = [pytest.mark.node, pytest.mark.redis]

SECRET = "express-test-secret-new-0123456789"
OLD_SECRET = "express-test-secret-old-0123456789"
COOKIE = "connect.sid"
SID = "1234.5678"
FIELDS = {"socket_id": SID, "channel_name": "private-user-u1"}


def settings_for(redis_server: RedisServer, backend: str, **session: Any) -> Settings:
    base = make_settings()
    if backend == "redis":
        base = replace(base, redis=redis_settings(redis_server.url))
    values: dict[str, Any] = {
        "kind": "express",
        "cookie_name": COOKIE,
        "redis_url": redis_server.url,
        "secrets": (SECRET, OLD_SECRET),
        "user_id_key": "passport.user.id",
        "user_info_keys": ("passport.user.name",),
        **session,
    }
    return replace(base, session=SessionSettings(**values))


@pytest.fixture
def express(redis_server: RedisServer) -> Iterator[ExpressApp]:
    with running_express(redis_server.url, [SECRET, OLD_SECRET], max_age_ms=600_000) as app:
        yield app


async def log_in(app: ExpressApp, user: str, name: str, **extra: Any) -> str:
    """The raw ``connect.sid`` cookie value the app set (URL-encoded, as a browser sends)."""
    async with aiohttp.ClientSession() as browser:
        body = {"user": user, "name": name, **extra}
        async with browser.post(f"{app.url}/login", json=body) as resp:
            assert resp.status == 200, await resp.text()
            header = resp.headers["Set-Cookie"]
    value = header.split(";", 1)[0].split("=", 1)[1]
    assert unquote(value).startswith("s:")
    return value


async def log_out(app: ExpressApp, cookie: str) -> None:
    async with aiohttp.ClientSession() as browser:
        headers = {"Cookie": f"{COOKIE}={cookie}"}
        async with browser.post(f"{app.url}/logout", headers=headers) as resp:
            assert resp.status == 200


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_the_express_login_identifies_at_authorize_and_handshake(
    backend: str,
    redis_server: RedisServer,
    express: ExpressApp,
    start_server: StartServer,
    connect: ConnectClient,
) -> None:
    server = await start_server(settings_for(redis_server, backend, recheck_seconds=0))
    cookie = await log_in(express, "u1", "Uma")
    header = {"Cookie": f"{COOKIE}={cookie}"}
    status, body, _ = await post_auth(
        server, {"socket_id": SID, "channel_name": "presence-club"}, headers=header
    )
    assert status == 200, body
    assert body["channel_data"] == '{"user_id":"u1","user_info":{"name":"Uma"}}'
    client = await connect(server, headers=dict(header))  # the client takes the Cookie out
    assert await client.subscribe("private-user-u1") == {"channel": "private-user-u1"}
    assert await client.subscribe("private-room-1") == {"channel": "private-room-1"}
    # A logout at the app destroys the session: refused at authorize, and the socket's
    # handshake identity stops holding (recheck_seconds = 0).
    await log_out(express, cookie)
    status, body, _ = await post_auth(server, FIELDS, headers=header)
    assert status == 401 and body["error"]["message"] == "unknown or ended session"
    answer = await client.subscribe("private-room-2")
    assert answer["error"]["code"] == 4009, answer


async def test_plain_session_paths_and_rotated_secrets(
    redis_server: RedisServer, start_server: StartServer
) -> None:
    # The app signs with the old secret (before a rotation); roomkey knows both.
    server = await start_server(
        settings_for(redis_server, "memory", user_id_key="user_id", user_info_keys=("name",))
    )
    with running_express(redis_server.url, [OLD_SECRET]) as old_app:
        cookie = await log_in(old_app, "u1", "Uma", plain=True)
    status, body, _ = await post_auth(
        server,
        {"socket_id": SID, "channel_name": "presence-club"},
        headers={"Cookie": f"{COOKIE}={cookie}"},
    )
    assert status == 200, body
    assert body["channel_data"] == '{"user_id":"u1","user_info":{"name":"Uma"}}'
    # Once the old secret is dropped from roomkey's list, the cookie no longer verifies.
    only_new = await start_server(settings_for(redis_server, "memory", secrets=(SECRET,)))
    status, body, _ = await post_auth(only_new, FIELDS, headers={"Cookie": f"{COOKIE}={cookie}"})
    assert status == 401 and body["error"]["message"].startswith("invalid session cookie")


def session_json(user: str = "u1", expires: datetime | None = None) -> str:
    cookie = {"originalMaxAge": 600000, "httpOnly": True, "path": "/"}
    cookie["expires"] = expires.isoformat().replace("+00:00", "Z") if expires else None
    return json.dumps({"cookie": cookie, "passport": {"user": {"id": user, "name": "Uma"}}})


async def test_hostile_cookies_and_sessions_are_refused_and_never_logged(
    redis_server: RedisServer,
    express: ExpressApp,
    start_server: StartServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    server = await start_server(settings_for(redis_server, "memory"))
    good = await log_in(express, "u1", "Uma")
    status, body, _ = await post_auth(server, FIELDS, headers={"Cookie": f"{COOKIE}={good}"})
    assert status == 200, body
    session_id = unquote(good)[2:].rsplit(".", 1)[0]
    past = datetime.fromtimestamp(time.time() - 60, UTC)

    def stored(sid: str, value: str) -> str:
        redis_server.cli("SET", f"sess:{sid}", value)
        return quote(sign(sid, SECRET), safe="")

    invalid = "invalid session cookie"
    cases = {
        "tampered id": (good.replace(session_id[:4], "AAAA", 1), invalid),
        "tampered signature": (good[:-3] + ("xyz" if not good.endswith("xyz") else "abc"), invalid),
        "unsigned": (quote(session_id, safe=""), invalid),
        "no signature": (quote("s:" + session_id, safe=""), invalid),
        "re-signed": (quote(sign(session_id, "another-secret-0123456789"), safe=""), invalid),
        "truncated": (good[:-10], invalid),
        "oversized": (good + "A" * 5000, invalid),
        "not in redis": (quote(sign("NoSuchSession0123456789", SECRET), safe=""), "unknown"),
        "not an object": (stored("NotAnObject01", '["passport"]'), "session is not a JSON object"),
        "not JSON": (stored("NotJson01", "{passport"), "session is not JSON"),
        "too large": (
            stored("TooLarge01", json.dumps({"x": "y" * 70_000})),
            "session is too large",
        ),
        "expired": (stored("Expired01", session_json(expires=past)), "session has expired"),
        "not logged in": (stored("Anonymous01", json.dumps({"cookie": {}})), "session is not"),
    }
    for name, (cookie, message) in cases.items():
        header = {"Cookie": f"{COOKIE}={cookie}"}
        status, body, _ = await post_auth(server, FIELDS, headers=header)
        assert status == 401, (name, body)
        assert body["error"]["code"] == 4009, name
        assert body["error"]["message"].startswith(message), (name, body)
        data = await refused(server, {"key": "test-key"}, dict(header))
        assert data["code"] == 4009, name
    # A session whose cookie has not expired yet holds.
    future = datetime.fromtimestamp(time.time() + 600, UTC)
    fresh = stored("Fresh01", session_json(expires=future))
    status, body, _ = await post_auth(server, FIELDS, headers={"Cookie": f"{COOKIE}={fresh}"})
    assert status == 200, body
    text = caplog.text
    assert "refused authorize" in text
    for name, (cookie, _) in [*cases.items(), ("good", (good, "")), ("fresh", (fresh, ""))]:
        assert cookie not in text and unquote(cookie) not in text, name
    assert session_id not in text
    metrics = server.runtime.metrics.render().decode()
    for reason in ("invalid_session", "unknown_session", "expired_session"):
        assert sample(metrics, "roomkey_identity_refusals_total", source="session", reason=reason)


async def test_an_unreachable_session_redis_fails_closed(
    express: ExpressApp, redis_server: RedisServer, start_server: StartServer
) -> None:
    settings = settings_for(redis_server, "memory", redis_url="redis://127.0.0.1:1/0")
    server = await start_server(settings)
    cookie = await log_in(express, "u1", "Uma")
    status, body, _ = await post_auth(server, FIELDS, headers={"Cookie": f"{COOKIE}={cookie}"})
    assert status == 503 and body["error"]["code"] == 4200
