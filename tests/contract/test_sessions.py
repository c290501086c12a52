"""Session-cookie identity over the memory and the Redis store (same tests), and a login
shared with an aiohttp application that uses aiohttp-session's RedisStorage."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp_session import get_session
from aiohttp_session import setup as setup_sessions
from aiohttp_session.redis_storage import RedisStorage

from roomkey.config import SessionSettings, Settings
from tests.support.apps import make_settings
from tests.support.authorize import post_auth
from tests.support.backends import EVERY_BACKEND, topology_settings
from tests.support.redis_server import RedisServer, start_redis, stop_redis
from tests.support.servers import Server, StartServer
from tests.support.socketio_client import ConnectClient, refused

SID = "1234.5678"
# aiohttp-session itself stores under string request keys; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:It is recommended to use web.RequestKey")


@pytest.fixture(params=EVERY_BACKEND)
def session_settings(request: pytest.FixtureRequest) -> Settings:
    base = make_settings()
    if request.param == "memory":
        return base
    if request.param == "redis":
        redis_server: RedisServer = request.getfixturevalue("redis_server")
        return replace(base, session=SessionSettings(store="redis", redis_url=redis_server.url))
    # Sentinel and Cluster: the sessions on the [redis] topology, which the node runs on.
    return replace(base, redis=topology_settings(request), session=SessionSettings(store="redis"))


@pytest.fixture
async def session_server(start_server: StartServer, session_settings: Settings) -> Server:
    return await start_server(session_settings)


async def login(server: Server, **data: object) -> dict[str, str]:
    sessions = server.runtime.sessions
    assert sessions is not None
    return {"AIOHTTP_SESSION": await sessions.save(data)}


async def test_cookie_identifies_on_the_authorize_endpoint(session_server: Server) -> None:
    cookies = await login(session_server, user_id="5", name="Eve", role="admin")
    status, body, _ = await post_auth(
        session_server, {"socket_id": SID, "channel_name": "presence-x"}, cookies=cookies
    )
    assert status == 200, body
    assert body["channel_data"] == '{"user_id":"5","user_info":{"name":"Eve"}}'
    # Session values are claims for the rules: private-admin-* needs role=admin.
    status, _, _ = await post_auth(
        session_server, {"socket_id": SID, "channel_name": "private-admin-1"}, cookies=cookies
    )
    assert status == 200


async def test_ended_and_anonymous_sessions_do_not_identify(session_server: Server) -> None:
    fields = {"socket_id": SID, "channel_name": "private-user-5"}
    cookies = await login(session_server, user_id="5")
    sessions = session_server.runtime.sessions
    assert sessions is not None
    await sessions.delete(cookies["AIOHTTP_SESSION"])
    status, body, _ = await post_auth(session_server, fields, cookies=cookies)
    assert status == 401 and "session" in body["error"]["message"]
    anonymous = await login(session_server, cart=["apple"])
    status, body, _ = await post_auth(session_server, fields, cookies=anonymous)
    assert status == 401 and "not logged in" in body["error"]["message"]
    for garbage in ("", "../../etc", "x" * 200):
        status, _, _ = await post_auth(session_server, fields, cookies={"AIOHTTP_SESSION": garbage})
        assert status == 401, garbage


async def test_cookie_identifies_at_the_handshake(
    session_server: Server, connect: ConnectClient
) -> None:
    cookies = await login(session_server, user_id="5", name="Eve")
    client = await connect(
        session_server, headers={"Cookie": f"AIOHTTP_SESSION={cookies['AIOHTTP_SESSION']}"}
    )
    assert await client.subscribe("private-user-5") == {"channel": "private-user-5"}
    denied = await client.subscribe("private-denied-5")
    assert denied["error"]["code"] == 4009


@pytest.mark.redis
async def test_expired_redis_session(start_server: StartServer, redis_server: RedisServer) -> None:
    settings = replace(
        make_settings(),
        session=SessionSettings(store="redis", redis_url=redis_server.url, max_age_seconds=60),
    )
    server = await start_server(settings)
    old = json.dumps({"created": int(time.time()) - 3600, "session": {"user_id": "5"}})
    redis_server.cli("SET", "AIOHTTP_SESSION_0ldsession", old)
    status, body, _ = await post_auth(
        server,
        {"socket_id": SID, "channel_name": "private-user-5"},
        cookies={"AIOHTTP_SESSION": "0ldsession"},
    )
    assert status == 401
    assert body["error"]["message"] == "session has expired"


# -- a login shared with an aiohttp application ---------------------------------------------


@pytest.fixture
async def login_app(redis_server: RedisServer) -> AsyncIterator[str]:
    """An aiohttp application that logs users in with aiohttp-session's RedisStorage."""
    client = aioredis.Redis.from_url(redis_server.url)
    app = web.Application()
    setup_sessions(app, RedisStorage(client))

    async def do_login(request: web.Request) -> web.Response:
        session = await get_session(request)
        session["user_id"] = request.query["user"]
        session["name"] = "Nia"
        return web.Response(text="in")

    async def do_logout(request: web.Request) -> web.Response:
        session = await get_session(request)
        session.invalidate()
        return web.Response(text="out")

    async def whoami(request: web.Request) -> web.Response:
        session = await get_session(request)
        return web.json_response({"user_id": session.get("user_id")})

    app.router.add_get("/login", do_login)
    app.router.add_get("/logout", do_logout)
    app.router.add_get("/whoami", whoami)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()
    await client.aclose()


@pytest.mark.redis
async def test_shared_login_with_aiohttp_session(
    start_server: StartServer, redis_server: RedisServer, login_app: str, connect: ConnectClient
) -> None:
    settings = replace(
        make_settings(), session=SessionSettings(store="redis", redis_url=redis_server.url)
    )
    server = await start_server(settings)
    async with aiohttp.ClientSession() as browser:
        async with browser.get(f"{login_app}/login", params={"user": "u9"}) as resp:
            assert resp.status == 200
            cookie = resp.cookies["AIOHTTP_SESSION"].value
        status, body, _ = await post_auth(
            server,
            {"socket_id": SID, "channel_name": "presence-club"},
            cookies={"AIOHTTP_SESSION": cookie},
        )
        assert status == 200, body
        assert body["channel_data"] == '{"user_id":"u9","user_info":{"name":"Nia"}}'
        client = await connect(server, headers={"Cookie": f"AIOHTTP_SESSION={cookie}"})
        assert await client.subscribe("private-user-u9") == {"channel": "private-user-u9"}
        # Logging out in the app ends the identity in roomkey too.
        async with browser.get(f"{login_app}/logout", cookies={"AIOHTTP_SESSION": cookie}) as resp:
            assert resp.status == 200
        status, _, _ = await post_auth(
            server,
            {"socket_id": SID, "channel_name": "presence-club"},
            cookies={"AIOHTTP_SESSION": cookie},
        )
        assert status == 401
    # And a session roomkey's store writes is one the app can read.
    sessions = server.runtime.sessions
    assert sessions is not None
    written = await sessions.save({"user_id": "u10"})
    async with aiohttp.ClientSession(cookies={"AIOHTTP_SESSION": written}) as browser:
        async with browser.get(f"{login_app}/whoami") as resp:
            assert await resp.json() == {"user_id": "u10"}


@pytest.mark.redis
async def test_unreachable_redis_store_answers_503_and_4200(start_server: StartServer) -> None:
    own = start_redis()
    try:
        settings = replace(
            make_settings(),
            session=SessionSettings(store="redis", redis_url=own.url),
        )
        server = await start_server(settings)
        cookies = await login(server, user_id="5")
        fields = {"socket_id": SID, "channel_name": "private-user-5"}
        assert (await post_auth(server, fields, cookies=cookies))[0] == 200
        port = own.port
        stop_redis(own)
        status, body, _ = await post_auth(server, fields, cookies=cookies)
        assert status == 503
        assert body["error"] == {
            "code": 4200,
            "message": "redis is unavailable (session store)",
        }
        data = await refused(
            server, {"key": "test-key"}, {"Cookie": f"AIOHTTP_SESSION={cookies['AIOHTTP_SESSION']}"}
        )
        assert data["code"] == 4200 and data["reason"] == "unavailable"
        # Back again: the session is gone with the old server, so it is a clean 401.
        own = start_redis(port)
        status, body, _ = await post_auth(server, fields, cookies=cookies)
        assert status == 401, body
    finally:
        stop_redis(own)
