"""Origins refused before any state, /metrics, /healthz, and authorized_connections_timeout."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
import socketio

from roomkey.app import SOCKETIO
from roomkey.config import ServerSettings
from tests.conftest import APP_KEY, ConnectClient, StartServer, make_settings, make_token
from tests.metrics_helpers import scrape


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


async def test_metrics_and_health(start_server: StartServer, connect: ConnectClient) -> None:
    server = await start_server()
    client = await connect(server, token=make_token("7"))
    await connect(server)
    assert await client.subscribe("private-user-7") == {"channel": "private-user-7"}
    rt = server.runtime
    await rt.hub.publish(rt.apps.default, ["private-user-7"], "e", "d")
    await client.next("event")
    async with aiohttp.ClientSession() as http:
        await http.post(
            f"{server.url}/pusher/auth",
            data={"socket_id": client.socket_id, "channel_name": "private-user-7"},
            headers={"Authorization": f"Bearer {make_token('7')}"},
        )
        await http.post(
            f"{server.url}/pusher/auth",
            data={"socket_id": client.socket_id, "channel_name": "private-denied-x"},
            headers={"Authorization": f"Bearer {make_token('7')}"},
        )
        assert (await http.get(f"{server.url}/healthz")).status == 200
        ready = await http.get(f"{server.url}/readyz")
        assert ready.status == 200
    text = await scrape(server)  # the metrics listener (text/plain checked there)
    lines = set(text.splitlines())
    assert 'roomkey_connections{app="101",transport="socketio"} 2.0' in lines
    assert 'roomkey_subscriptions{app="101"} 1.0' in lines
    assert 'roomkey_connections_opened_total{app="101",transport="socketio"} 2.0' in lines
    assert 'roomkey_messages_delivered_total{app="101"} 1.0' in lines
    assert 'roomkey_messages_received_total{transport="socketio",type="subscribe"} 1.0' in lines
    assert 'roomkey_authorize_results_total{endpoint="channel",result="ok"} 1.0' in lines
    assert 'roomkey_authorize_results_total{endpoint="channel",result="forbidden"} 1.0' in lines
    assert 'roomkey_refusals_total{reason="forbidden",what="authorize"} 1.0' in lines
    assert "roomkey_fanout_seconds_count 1.0" in lines
    assert "roomkey_rate_limiter_failures_total 0.0" in lines
    for family in (
        "roomkey_event_loop_lag_seconds",
        "roomkey_webhook_queue_depth",
        "roomkey_broker_lag_seconds",
        "roomkey_slow_consumer_disconnects",
    ):
        assert family in text


async def test_authorized_connections_timeout(
    start_server: StartServer, connect: ConnectClient
) -> None:
    server = await start_server(make_settings(authorized_connections_timeout=0.3))
    idle = await connect(server)
    await idle.subscribe("public-only")
    signed = await connect(server, token=make_token("7"))
    await signed.subscribe("private-user-7")
    error = await idle.next("error", timeout=3)
    assert error["code"] == 4009
    assert "0.3 seconds" in error["message"]
    for _ in range(40):
        if idle.socket_id not in server.runtime.hub.connections:
            break
        await asyncio.sleep(0.05)
    assert idle.socket_id not in server.runtime.hub.connections
    assert signed.socket_id in server.runtime.hub.connections
    await signed.nothing("error", within=0.2)
    assert len(server.runtime.deadlines) == 0
    text = server.runtime.metrics.render().decode()
    assert 'roomkey_authorization_timeouts_total{app="101"} 1.0' in text


async def test_no_deadline_without_the_option(
    start_server: StartServer, connect: ConnectClient
) -> None:
    server = await start_server(make_settings(server=None))
    await connect(server)
    assert len(server.runtime.deadlines) == 0
    assert ServerSettings().allowed_origins == ()


async def test_dead_connection_is_closed_by_the_heartbeat(
    start_server: StartServer, connect: ConnectClient
) -> None:
    import json

    from tests.raw_socketio import RawSocketIO

    server = await start_server(
        make_settings(server={"ping_interval_seconds": 1.0, "ping_timeout_seconds": 0.3})
    )
    live = await connect(server)
    raw = await RawSocketIO.open(server.port)
    try:
        opened = json.loads((await raw.recv_until("0{"))[1:])
        assert opened["pingInterval"] == 1000 and opened["pingTimeout"] == 300
        raw.send("40" + json.dumps({"key": APP_KEY}))
        await raw.recv_until('42["connection_established"')
        assert len(server.runtime.hub.connections) == 2
        # Never answer the ping: the server must give up on us, not on the live client.
        for _ in range(60):
            if len(server.runtime.hub.connections) < 2:
                break
            await asyncio.sleep(0.1)
        assert list(server.runtime.hub.connections) == [live.socket_id]
    finally:
        raw.close()
