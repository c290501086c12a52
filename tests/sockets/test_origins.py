"""Origins refused before any state, on the Socket.IO handshake (WebSocket and long-polling)
and on the authorize endpoint; same-origin only by default. The Pusher transport's origins
are in test_pusher_hardening.py, the policy itself in tests/unit/test_origins.py."""

from __future__ import annotations

import aiohttp
import pytest
import socketio

from roomkey.app import SOCKETIO
from tests.support.apps import APP_KEY, make_settings, make_token
from tests.support.servers import StartServer


async def try_connect(url: str, origin: str) -> bool:
    client = socketio.AsyncClient(reconnection=False)
    try:
        await client.connect(
            url,
            auth={"key": APP_KEY},
            headers={"Origin": origin},
            transports=["websocket"],
            wait_timeout=3,
        )
    except socketio.exceptions.ConnectionError:
        await close_http(client)
        return False
    await client.disconnect()
    await close_http(client)
    return True


async def close_http(client: socketio.AsyncClient) -> None:
    """A refused client keeps its HTTP session; close it."""
    http = getattr(client.eio, "http", None)
    if http is not None and not http.closed:
        await http.close()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_foreign_origin_refused_before_any_state(
    start_server: StartServer, transport: str
) -> None:
    server = await start_server(
        make_settings(server={"allowed_origins": ("https://*.example.com",)})
    )
    client = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(
            server.url,
            auth={"key": APP_KEY},
            headers={"Origin": "https://evil.test"},
            transports=[transport],
            wait_timeout=3,
        )
    await close_http(client)
    assert server.runtime.hub.connections == {}
    assert server.app[SOCKETIO].sio.eio.sockets == {}
    assert await try_connect(server.url, "https://app.example.com")
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{server.url}/pusher/auth",
            data={"socket_id": "1.1", "channel_name": "private-user-7"},
            headers={"Authorization": f"Bearer {make_token('7')}", "Origin": "https://evil.test"},
        )
        assert resp.status == 403
        assert "Access-Control-Allow-Origin" not in resp.headers
        ok = await http.post(
            f"{server.url}/pusher/auth",
            data={"socket_id": "1.1", "channel_name": "private-user-7"},
            headers={
                "Authorization": f"Bearer {make_token('7')}",
                "Origin": "https://app.example.com",
            },
        )
        assert ok.status == 200
        assert ok.headers["Access-Control-Allow-Origin"] == "https://app.example.com"


async def test_same_origin_only_by_default(start_server: StartServer) -> None:
    server = await start_server()
    assert not await try_connect(server.url, "https://evil.test")
    assert await try_connect(server.url, server.url)
