"""[performance] settings and server.compression, through a real server and real clients."""

from __future__ import annotations

import gc
import json
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from roomkey.app import create_app
from roomkey.config import ConfigError, PerformanceSettings, parse_settings
from tests.support.apps import APP_KEY, make_settings
from tests.support.servers import Server, StartServer


async def _socketio_over_deflate(server: Server) -> tuple[int, list[Any]]:
    """Open an Engine.IO WebSocket offering permessage-deflate, connect the Socket.IO
    namespace, and return the negotiated compression and what the server sent."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{server.url}/socket.io/?EIO=4&transport=websocket", compress=15) as ws,
    ):
        opened = await ws.receive_str(timeout=3)
        assert opened.startswith("0{")
        await ws.send_str("40" + json.dumps({"key": APP_KEY}))
        connected = await ws.receive_str(timeout=3)
        established = await ws.receive_str(timeout=3)
        return ws.compress, [connected[:2], json.loads(established[2:])]


async def test_permessage_deflate_is_refused_by_default(server: Server) -> None:
    compress, received = await _socketio_over_deflate(server)
    assert compress == 0
    assert received[0] == "40"
    assert received[1][0] == "connection_established"
    assert received[1][1]["socket_id"]


async def test_permessage_deflate_is_accepted_when_configured(start_server: StartServer) -> None:
    server = await start_server(make_settings(server={"compression": True}))
    compress, received = await _socketio_over_deflate(server)
    assert compress == 15
    assert received[1][0] == "connection_established"


async def test_gc_is_tuned_while_serving_and_restored_after() -> None:
    before_threshold = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    perf = PerformanceSettings(
        gc_freeze=True, gc_threshold0=12345, gc_threshold1=7, gc_threshold2=9
    )
    app = create_app(make_settings_with(perf))
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        assert gc.get_threshold() == (12345, 7, 9)
        assert gc.get_freeze_count() > 0
    finally:
        await runner.cleanup()
    assert gc.get_threshold() == before_threshold
    assert gc.get_freeze_count() == 0


async def test_gc_freeze_can_be_turned_off() -> None:
    perf = PerformanceSettings(gc_freeze=False)
    app = create_app(make_settings_with(perf))
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == (perf.gc_threshold0, perf.gc_threshold1, perf.gc_threshold2)
    finally:
        await runner.cleanup()


def make_settings_with(perf: PerformanceSettings) -> Any:
    from dataclasses import replace

    return replace(make_settings(), performance=perf)


def _toml_settings(performance: dict[str, Any]) -> Any:
    return parse_settings(
        {
            "apps": [{"id": "1", "key": "k", "secret": "s" * 16}],
            "performance": performance,
        }
    )


def test_performance_table_is_read() -> None:
    s = _toml_settings(
        {"gc_freeze": False, "gc_threshold0": 1000, "gc_threshold2": 5, "peek_body": False}
    )
    assert s.performance == PerformanceSettings(
        gc_freeze=False, gc_threshold0=1000, gc_threshold1=20, gc_threshold2=5, peek_body=False
    )
    assert PerformanceSettings().peek_body is True
    assert _toml_settings({}).performance == PerformanceSettings()


def test_performance_errors_name_their_path() -> None:
    with pytest.raises(ConfigError) as info:
        _toml_settings({"gc_freeze": "yes", "gc_threshold0": 0, "gc_mystery": 1})
    errors = "\n".join(info.value.errors)
    assert "performance.gc_freeze: must be true or false" in errors
    assert "performance.gc_threshold0: must be at least 1" in errors
    assert "performance.gc_mystery" in errors
