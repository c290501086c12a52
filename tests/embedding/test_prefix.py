"""roomkey under a route prefix in a host application: both transports, the authorize
endpoints, the REST API and the client files answer under it and nowhere else; operations
routes only when asked for; a host route that overlaps one of roomkey's stops the set-up (or
the start) with an error naming both."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
import socketio
from aiohttp import web

import roomkey
from tests.embedding.conftest import StartHost, one_app_settings
from tests.support.apps import APP_ID, make_token
from tests.support.pusher import RawPusherFactory
from tests.support.rest import raw, sign
from tests.support.socketio_client import ConnectClient

PREFIX = "/realtime"


async def status(url: str, method: str = "GET") -> int:
    async with aiohttp.ClientSession() as http, http.request(method, url) as resp:
        return resp.status


async def test_both_transports_and_the_endpoints_answer_under_the_prefix(
    start_host: StartHost, connect: ConnectClient, raw_pusher: RawPusherFactory
) -> None:
    host = await start_host(prefix=PREFIX + "/")  # a trailing slash is dropped
    server, handle = host.server, host.handle
    assert handle.prefix == PREFIX
    assert handle.paths == roomkey.ClientPaths(
        socketio="/realtime/socket.io",
        pusher="/realtime",
        auth="/realtime/pusher/auth",
        user_auth="/realtime/pusher/user-auth",
    )

    # Socket.IO with path="/realtime/socket.io", both transports' defaults.
    sio = await connect(server, token=make_token("7"))
    polling = await connect(server, token=make_token("7"), transports=["polling", "websocket"])
    # The Pusher protocol at /realtime/app/{key} (pusher-js: wsPath "/realtime").
    pusher = await raw_pusher.established(server)
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            server.url + handle.paths.auth,
            data={"socket_id": pusher.socket_id, "channel_name": "private-news"},
            headers={"Authorization": f"Bearer {make_token('7')}"},
        )
        assert resp.status == 200, await resp.text()
        signed = await resp.json()
    joined = await pusher.subscribe("private-news", auth=signed["auth"])
    assert joined["event"] == "pusher_internal:subscription_succeeded"
    for client in (sio, polling):
        assert await client.subscribe("private-news") == {"channel": "private-news"}

    # The REST API, signed over the path as requested (prefix included).
    path = f"{PREFIX}/apps/{APP_ID}/events"
    body = json.dumps({"name": "posted", "channel": "private-news", "data": "via rest"}).encode()
    answer = await raw(server, "POST", path, sign("POST", path, body), body)
    assert answer.status == 200, answer.body
    for client in (sio, polling):
        assert (await client.next("event"))["data"] == "via rest"
    assert (await pusher.next_event("posted"))["data"] == "via rest"

    # Nothing of roomkey at the host's root; the host's own route is untouched.
    assert await status(f"{server.url}/pusher/auth", "POST") == 404
    assert await status(f"{server.url}/apps/{APP_ID}/channels") == 404
    assert await status(f"{server.url}/socket.io/?EIO=4&transport=polling") == 404
    assert await status(f"{server.url}/app/test-key") == 404
    async with aiohttp.ClientSession() as http, http.get(server.url + "/") as resp:
        assert await resp.text() == "host"


@pytest.mark.node
async def test_pusher_js_with_wspath_under_the_prefix(
    start_host: StartHost, node_pusher: Any
) -> None:
    host = await start_host(prefix=PREFIX)
    client = await node_pusher(host.server, user_id="7")
    await client.connected()
    await client.send("subscribe", channel="private-user-7")
    await client.event("private-user-7", "pusher:subscription_succeeded")
    await client.send("subscribe", channel="presence-lobby")
    joined = await client.event("presence-lobby", "pusher:subscription_succeeded")
    assert joined["data"]["me"] == {"id": "7", "info": {"name": "User 7"}}
    await host.handle.publish("private-user-7", "greeting", {"hello": "world"})
    assert (await client.event("private-user-7", "greeting"))["data"] == {"hello": "world"}


async def test_a_socketio_client_without_the_path_is_not_served(start_host: StartHost) -> None:
    host = await start_host(prefix=PREFIX)
    client = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(
            host.server.url, auth={"key": "test-key"}, transports=["polling"], wait_timeout=3
        )
    await client.disconnect()


async def test_operations_routes_only_when_asked_for(start_host: StartHost) -> None:
    plain = await start_host()
    for path in ("/healthz", "/readyz", "/metrics"):
        assert await status(plain.server.url + path) == 404, path
    prefixed = await start_host(prefix=PREFIX)
    assert await status(f"{prefixed.server.url}{PREFIX}/healthz") == 404
    asked = await start_host(prefix=PREFIX, operations=True)
    assert await status(f"{asked.server.url}{PREFIX}/healthz") == 200
    assert await status(f"{asked.server.url}{PREFIX}/readyz") == 200
    assert await status(f"{asked.server.url}/healthz") == 404


def _route(app: web.Application, path: str) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="host")

    app.router.add_get(path, handler)


@pytest.mark.parametrize(
    ("prefix", "host_path", "roomkey_path"),
    [
        ("", "/pusher/auth", "/pusher/auth"),
        ("", "/apps/{anything}/events", "/apps/{app_id}/events"),
        ("", "/app/{name}", "/app/{key}"),
        ("", "/socket.io/", "/socket.io/"),
        (PREFIX, "/realtime/{tail:.*}", "/realtime"),
        (PREFIX, "/realtime/pusher/auth", "/realtime/pusher/auth"),
    ],
)
def test_a_host_route_added_before_setup_that_overlaps_is_refused(
    prefix: str, host_path: str, roomkey_path: str
) -> None:
    app = web.Application()
    _route(app, host_path)
    with pytest.raises(roomkey.RouteConflict) as refused:
        roomkey.setup(app, one_app_settings(), prefix=prefix)
    # Named as aiohttp names it (a variable's pattern left out).
    assert repr(host_path.replace(":.*", "")) in str(refused.value)
    assert roomkey_path in str(refused.value)


def test_a_host_static_directory_over_roomkey_is_refused(tmp_path: object) -> None:
    app = web.Application()
    app.router.add_static("/realtime", str(tmp_path))
    with pytest.raises(roomkey.RouteConflict, match="/realtime"):
        roomkey.setup(app, one_app_settings(), prefix=PREFIX)


def test_host_routes_beside_the_prefix_are_fine() -> None:
    app = web.Application()
    for path in ("/pusher/auth", "/app/{key}", "/healthz", "/realtime-old/x", "/api/{x}"):
        _route(app, path)
    handle = roomkey.setup(app, one_app_settings(), prefix=PREFIX)
    assert handle.prefix == PREFIX


@pytest.mark.parametrize("path", ["/pusher/auth", "/app/settings", "/apps/{id}/events"])
async def test_a_host_route_added_after_setup_stops_the_start(path: str) -> None:
    app = web.Application()
    roomkey.setup(app, one_app_settings())
    _route(app, path)
    runner = web.AppRunner(app)
    with pytest.raises(roomkey.RouteConflict, match=path.replace("{", "\\{").replace("}", "\\}")):
        await runner.setup()
    await runner.cleanup()


async def test_a_catch_all_added_after_setup_leaves_roomkey_its_paths(
    start_host: StartHost, connect: ConnectClient
) -> None:
    host = await start_host(after=lambda app: _route(app, "/{tail:.*}"))
    assert await status(f"{host.server.url}/some/page") == 200
    client = await connect(host.server, token=make_token("7"))
    assert await client.subscribe("private-user-7") == {"channel": "private-user-7"}
    # roomkey's authorize endpoint answers (no identity: 401), not the host's fallback.
    assert await status(f"{host.server.url}/pusher/auth", "POST") == 401


@pytest.mark.parametrize("prefix", ["realtime", "/real time", "/a?b", "/{x}"])
def test_a_malformed_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        roomkey.setup(web.Application(), one_app_settings(), prefix=prefix)
