"""The Socket.IO handshake: app key, socket id, and identity (JWT or session cookie)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
import socketio
from aiohttp import web

from roomkey.app import create_app
from roomkey.config import Limits
from tests.support.apps import make_settings, make_token
from tests.support.node import start_node
from tests.support.servers import Server, StartServer
from tests.support.socketio_client import ConnectClient, refused
from tests.support.waiting import wait_for_condition


async def test_socket_ids_are_pusher_shaped_and_unique(
    server: Server, connect: ConnectClient
) -> None:
    clients = [await connect(server) for _ in range(5)]
    ids = {c.socket_id for c in clients}
    assert len(ids) == 5
    for sid in ids:
        assert re.fullmatch(r"\d+\.\d+", sid)
    # Socket.IO's own sid is internal and never the socket id.
    assert all(c.client.get_sid() != c.socket_id for c in clients)


async def test_connection_established_carries_the_activity_timeout(
    server: Server, connect: ConnectClient
) -> None:
    client = await connect(server)
    assert server.runtime.hub.connections[client.socket_id].app.key == "test-key"


async def test_unknown_or_missing_key_is_refused_with_4001(server: Server) -> None:
    for auth in ({"key": "nope"}, {}, {"key": 5}, None):
        data = await refused(server, auth)
        assert data["code"] == 4001, auth
        assert data["message"] == "unknown app key"
        assert data["data"]["code"] == 4001  # where socket.io-client exposes it
    assert server.runtime.hub.connections == {}


async def test_key_in_the_query_string(server: Server) -> None:
    client = socketio.AsyncClient(reconnection=False)
    got: asyncio.Queue[Any] = asyncio.Queue()
    client.on("connection_established", got.put_nowait)
    await client.connect(f"{server.url}?key=test-key", transports=["websocket"], wait_timeout=5)
    try:
        established = await asyncio.wait_for(got.get(), 3)
        assert re.fullmatch(r"\d+\.\d+", established["socket_id"])
        assert established["activity_timeout"] == 120
    finally:
        await client.disconnect()


async def test_token_identity_subscribes_without_auth_under_the_rules(
    server: Server, connect: ConnectClient
) -> None:
    client = await connect(server, token=make_token("7", name="Ada"))
    conn = server.runtime.hub.connections[client.socket_id]
    assert conn.identity is not None and conn.identity.user_id == "7"
    assert await client.subscribe("private-user-7") == {"channel": "private-user-7"}
    denied = await client.subscribe("private-denied-1")
    assert denied["error"] == {"code": 4009, "message": "not allowed to join private-denied-1"}
    assert set(conn.channels) == {"private-user-7"}
    rt = server.runtime
    await rt.hub.publish(rt.apps.default, ["private-user-7"], "e", "hi")
    assert (await client.next("event"))["data"] == "hi"


async def test_anonymous_connection_is_allowed_unless_required(
    server: Server, connect: ConnectClient
) -> None:
    client = await connect(server)
    assert server.runtime.hub.connections[client.socket_id].identity is None
    answer = await client.subscribe("private-user-7")
    assert answer["error"]["code"] == 4009


async def test_bad_token_is_refused_even_when_identity_is_optional(server: Server) -> None:
    data = await refused(server, {"key": "test-key", "token": "garbage"})
    assert data["code"] == 4009 and data["reason"] == "invalid_token"
    data = await refused(server, {"key": "test-key", "token": 5})
    assert data["code"] == 4300 and "auth.token" in data["message"]


async def test_require_identity_refusals_have_a_code_and_reason(
    start_server: StartServer, connect: ConnectClient
) -> None:
    server = await start_server(make_settings(require_identity=True))
    cases = [
        ({"key": "test-key"}, {}, "no_identity"),
        ({"key": "test-key", "token": "not.a.jwt"}, {}, "invalid_token"),
        ({"key": "test-key", "token": make_token("7", expires_in=-60)}, {}, "expired_token"),
        ({"key": "test-key"}, {"Cookie": "AIOHTTP_SESSION=0123abcd"}, "unknown_session"),
        ({"key": "test-key"}, {"Cookie": "AIOHTTP_SESSION=bad%20value!"}, "invalid_session"),
    ]
    for auth, headers, reason in cases:
        data = await refused(server, auth, headers)
        assert data["code"] == 4009, reason
        assert data["reason"] == reason
        assert data["message"]
    assert server.runtime.hub.connections == {}
    # With a valid identity it connects.
    client = await connect(server, token=make_token("7"))
    assert client.socket_id in server.runtime.hub.connections


async def test_session_cookie_identity_at_the_handshake(
    start_server: StartServer, connect: ConnectClient
) -> None:
    server = await start_server(make_settings(require_identity=True))
    sessions = server.runtime.sessions
    assert sessions is not None
    session_id = await sessions.save({"user_id": "5", "name": "Eve"})
    client = await connect(server, headers={"Cookie": f"AIOHTTP_SESSION={session_id}"})
    ack = await client.subscribe("presence-lobby")
    assert ack["presence"]["hash"] == {"5": {"name": "Eve"}}
    # A logged-out session no longer identifies.
    await sessions.delete(session_id)
    data = await refused(server, {"key": "test-key"}, {"Cookie": f"AIOHTTP_SESSION={session_id}"})
    assert data["reason"] == "unknown_session"


async def test_cookie_from_a_disallowed_origin_is_refused(
    start_server: StartServer, connect: ConnectClient
) -> None:
    server = await start_server(
        make_settings(server={"allowed_origins": ("*",)}, require_identity=True)
    )
    sessions = server.runtime.sessions
    assert sessions is not None
    cookie = f"AIOHTTP_SESSION={await sessions.save({'user_id': '5'})}"
    data = await refused(
        server, {"key": "test-key"}, {"Cookie": cookie, "Origin": "http://evil.example"}
    )
    assert data["code"] == 4009 and data["reason"] == "origin"
    # The same cookie from the server's own origin is fine.
    client = await connect(server, headers={"Cookie": cookie, "Origin": server.url})
    assert server.runtime.hub.connections[client.socket_id].identity is not None


async def test_foreign_origin_is_refused_with_same_origin_default(server: Server) -> None:
    # Refused by the Engine.IO handshake itself, before any Socket.IO data is exchanged.
    data = await refused(server, {"key": "test-key"}, {"Origin": "http://evil.example"})
    assert not isinstance(data, dict)
    assert server.runtime.hub.connections == {}


REFUSED_JS = """
const { io } = require("socket.io-client");
const socket = io(process.argv[1], { auth: { key: "nope" }, reconnection: false, transports: ["websocket"] });
socket.on("connect_error", (err) => {
  console.log(JSON.stringify({ message: err.message, data: err.data }));
  process.exit(0);
});
setTimeout(() => process.exit(3), 5000);
"""


@pytest.mark.node
async def test_socket_io_client_sees_the_refusal_code(server: Server) -> None:
    proc = await start_node("-e", REFUSED_JS, server.url)
    out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 0, err.decode()
    assert json.loads(out) == {
        "message": "unknown app key",
        "data": {"code": 4001, "message": "unknown app key", "reason": "unknown_app"},
    }


async def test_over_the_connection_quota_is_refused_with_4004(
    start_server: StartServer, connect: ConnectClient
) -> None:
    server = await start_server(make_settings(limits=Limits(max_connections=1)))
    first = await connect(server)
    data = await refused(server, {"key": "test-key"})
    assert data["code"] == 4004
    assert set(server.runtime.hub.connections) == {first.socket_id}
    # A freed place can be taken again.
    await first.client.disconnect()
    await wait_for_condition(lambda: not server.runtime.hub.connections, "the place freed")
    await connect(server)


async def test_disabled_app_is_refused_with_4001(start_server: StartServer) -> None:
    server = await start_server(make_settings(enabled=False))
    data = await refused(server, {"key": "test-key"})
    assert data["code"] == 4001


async def test_shutdown_tells_clients_to_reconnect(connect: ConnectClient) -> None:
    app = create_app(make_settings())
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    server = Server(app, runner, runner.addresses[0][1])
    client = await connect(server)
    await runner.cleanup()
    assert await client.next("error") == {
        "code": 4200,
        "message": "server is shutting down, reconnect",
    }
    await client.wait_disconnected()


async def test_malformed_origin_is_refused_at_the_handshake(server: Server) -> None:
    data = await refused(server, {"key": "test-key"}, {"Origin": "http://[::1"})
    assert not isinstance(data, dict)
    assert server.runtime.hub.connections == {}
