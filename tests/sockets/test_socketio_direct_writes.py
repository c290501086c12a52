"""Socket.IO deliveries with and without ``performance.direct_writes``: the same bytes on the
wire, in the same order, and never ahead of a packet already queued for the socket."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import aiohttp
import pytest

from roomkey.config import PerformanceSettings
from roomkey.transports.socketio.connection import SocketIOConnection
from tests.support.apps import APP_KEY, make_settings
from tests.support.servers import Server, StartServer


async def _open(session: aiohttp.ClientSession, server: Server) -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect(f"{server.url}/socket.io/?EIO=4&transport=websocket")
    assert (await ws.receive_str(timeout=3)).startswith("0{")
    await ws.send_str("40" + json.dumps({"key": APP_KEY}))
    assert (await ws.receive_str(timeout=3)).startswith("40")
    established = await ws.receive_str(timeout=3)
    assert established.startswith('42["connection_established"')
    return ws


async def _frames(ws: aiohttp.ClientWebSocketResponse, count: int) -> list[str]:
    out = []
    for _ in range(count):
        text = await ws.receive_str(timeout=3)
        if text == "2":  # Engine.IO ping
            await ws.send_str("3")
            continue
        out.append(text)
    return out


async def _publish_after_subscribe(server: Server, events: int) -> list[str]:
    async with aiohttp.ClientSession() as session:
        ws = await _open(session, server)
        await ws.send_str('420["subscribe",{"channel":"news"}]')
        assert await ws.receive_str(timeout=3) == '430[{"channel":"news"}]'
        rt = server.runtime
        app = rt.apps.by_key(APP_KEY)
        for i in range(events):
            await rt.hub.publish(app, ["news"], "tick", f"payload {i}")
        frames = await _frames(ws, events)
        await ws.close()
        return frames


@pytest.mark.parametrize("direct", [True, False])
async def test_deliveries_are_identical_with_and_without_direct_writes(
    start_server: StartServer, direct: bool
) -> None:
    settings = replace(make_settings(), performance=PerformanceSettings(direct_writes=direct))
    server = await start_server(settings)
    frames = await _publish_after_subscribe(server, 40)
    assert frames == [
        "42"
        + json.dumps(
            ["event", {"channel": "news", "event": "tick", "data": f"payload {i}"}],
            separators=(",", ":"),
        )
        for i in range(40)
    ]


async def test_a_delivery_never_overtakes_a_queued_packet(start_server: StartServer) -> None:
    server = await start_server()  # direct_writes is on by default
    assert server.runtime.settings.performance.direct_writes
    async with aiohttp.ClientSession() as session:
        ws = await _open(session, server)
        await ws.send_str('420["subscribe",{"channel":"news"}]')
        assert await ws.receive_str(timeout=3) == '430[{"channel":"news"}]'
        rt = server.runtime
        conn: Any = next(iter(rt.hub.connections.values()))
        assert isinstance(conn, SocketIOConnection)
        # Queued on the Engine.IO socket (its writer has not run yet) ...
        conn.emit("notice", {"n": 1})
        # ... so this delivery must be queued behind it, not written ahead of it.
        await rt.hub.publish(rt.apps.by_key(APP_KEY), ["news"], "tick", "after")
        first, second = await _frames(ws, 2)
        assert first == '42["notice",{"n":1}]'
        assert second.startswith('42["event"') and '"after"' in second
        await ws.close()
