"""Connections left idle are closed, and only they: a socket that authorizes no channel
within ``authorized_connections_timeout`` (4009), and one that stops answering pings (the
Engine.IO heartbeat). The Pusher transport's deadline is in test_pusher_hardening.py."""

from __future__ import annotations

from roomkey.config import ServerSettings
from tests.support.apps import APP_KEY, make_settings, make_token
from tests.support.servers import StartServer
from tests.support.socketio_client import ConnectClient
from tests.support.waiting import wait_for_condition


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
    await wait_for_condition(
        lambda: idle.socket_id not in server.runtime.hub.connections, "the idle socket gone"
    )
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

    from tests.support.raw_socketio import RawSocketIO

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
        await wait_for_condition(
            lambda: len(server.runtime.hub.connections) < 2,
            "the server to give up on the silent socket",
            timeout=10,
            interval=0.1,
        )
        assert list(server.runtime.hub.connections) == [live.socket_id]
    finally:
        raw.close()
