"""``Roomkey.login`` / ``Roomkey.logout`` with roomkey's memory and Redis session stores: a
host application's own login route sets the cookie; the browser's cookie then identifies the
user to the authorize endpoint and to the Socket.IO handshake; after logout both refuse it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

import roomkey
from tests.embedding.conftest import Host, StartHost
from tests.support.socketio_client import ConnectClient, refused


async def login(request: web.Request) -> web.Response:
    """The host's login: who the user is is the host's business (a form, a password...)."""
    fields = await request.post()
    response = web.json_response({"ok": True})
    await roomkey.Roomkey.of(request).login(
        response, str(fields["user"]), {"name": str(fields["name"])}, secure=request.secure
    )
    return response


async def logout(request: web.Request) -> web.Response:
    response = web.json_response({"ok": True})
    await roomkey.Roomkey.of(request).logout(request, response)
    return response


def host_routes(app: web.Application) -> None:
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)


async def authorize(
    http: aiohttp.ClientSession, host: Host, socket_id: str, channel: str
) -> tuple[int, Any]:
    async with http.post(
        host.server.url + host.handle.paths.auth,
        data={"socket_id": socket_id, "channel_name": channel},
    ) as resp:
        return resp.status, await resp.json()


def cookie_header(http: aiohttp.ClientSession, host: Host) -> dict[str, str]:
    """The Cookie header a browser on the host's page sends with the socket's handshake."""
    cookies = http.cookie_jar.filter_cookies(URL(host.server.url))
    return {"Cookie": "; ".join(f"{k}={m.value}" for k, m in cookies.items())}


async def test_login_identifies_the_user_to_authorize_and_the_socket(
    start_host: StartHost,
    backend_settings: roomkey.Settings,
    connect: ConnectClient,
) -> None:
    host = await start_host(backend_settings, prefix="/realtime", build=host_routes)
    cookie_name = backend_settings.session.cookie_name
    # The cookie is set for 127.0.0.1: aiohttp keeps IP cookies only when unsafe.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(f"{host.server.url}/login", data={"user": "7", "name": "Ada"}) as resp:
            assert resp.status == 200
            set_cookie = resp.headers["Set-Cookie"]
        assert set_cookie.startswith(f"{cookie_name}=")
        assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie and "Path=/" in set_cookie

        socket = await connect(host.server, headers=cookie_header(http, host))
        # The handshake's cookie identifies the socket: its own private channel opens.
        assert await socket.subscribe("private-user-7") == {"channel": "private-user-7"}
        assert (await socket.subscribe("private-user-8"))["error"]["code"] == 4009
        # The authorize endpoint knows the user from the same cookie: presence data included.
        status, body = await authorize(http, host, socket.socket_id, "presence-room")
        assert status == 200, body
        assert '"user_id":"7"' in body["channel_data"]
        assert '"name":"Ada"' in body["channel_data"]

        async with http.post(f"{host.server.url}/logout") as resp:
            assert resp.status == 200
            assert f"{cookie_name}=;" in resp.headers["Set-Cookie"] or (
                "Max-Age=0" in resp.headers["Set-Cookie"]
            )
        assert not cookie_header(http, host)["Cookie"]

    # The session is gone: the old cookie value no longer identifies anyone.
    stale = set_cookie.split(";", 1)[0]
    async with aiohttp.ClientSession(headers={"Cookie": stale}) as http:
        status, body = await authorize(http, host, socket.socket_id, "private-user-7")
        assert status == 401, body
    refusal = await refused(host.server, {"key": "test-key"}, {"Cookie": stale})
    assert refusal["code"] == 4009, refusal


async def test_login_refuses_bad_input_and_disabled_sessions(start_host: StartHost) -> None:
    host = await start_host()
    response = web.Response()
    with pytest.raises(roomkey.BadRequest):
        await host.handle.login(response, "")
    with pytest.raises(roomkey.BadRequest):
        await host.handle.login(response, "7", {"user_id": "8"})
    with pytest.raises(roomkey.BadRequest):
        await host.handle.login(response, "7", {"name": object()})
    assert not response.cookies
    off = await start_host(
        replace(host.handle.settings, session=roomkey.SessionSettings(enabled=False))
    )
    with pytest.raises(roomkey.BadRequest, match="sessions are disabled"):
        await off.handle.login(web.Response(), "7")
