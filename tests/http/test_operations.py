"""Operations endpoints: ``/metrics`` on a listener of its own (loopback by default), never on
the client port unless ``metrics.on_main_port`` asks for it (with a warning); ``/healthz`` and
``/readyz`` on the client port without internal identifiers; ``setup()`` adds none of them to
a host application unless asked."""

from __future__ import annotations

import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from roomkey.app import setup
from roomkey.config import MetricsSettings
from roomkey.http.operations import METRICS_LISTENER
from roomkey.startup import EXIT_BIND
from tests.support.apps import APP_KEY, make_settings, make_token
from tests.support.metrics import families, sample, scrape, scrape_url
from tests.support.processes import serve_process
from tests.support.servers import Server, StartServer, free_port
from tests.support.socketio_client import ConnectClient

ROOMKEY = [str(Path(sys.executable).parent / "roomkey")]
CONFIG = """
[[apps]]
id = "ops-app-7"
key = "ops-key"
secret = "ops-secret-0123456789"
"""


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.text()


async def test_serve_keeps_metrics_off_the_client_port() -> None:
    with serve_process(CONFIG) as server:
        assert await get(f"{server.url}/metrics") == (404, "404: Not Found")
        # Health on the client port: nothing that identifies the node or the apps.
        assert await get(f"{server.url}/healthz") == (200, '{"status": "ok"}')
        assert await get(f"{server.url}/readyz") == (200, '{"status": "ready", "broker": true}')
        # The listener, on loopback, has all three; its /readyz names the node.
        text = await scrape_url(server.metrics_url)
        assert {"roomkey_connections", "roomkey_connections_opened"} <= families(text)
        status, ready = await get(f"{server.metrics_url}/readyz")
        assert status == 200 and '"node": "' in ready
        assert (await get(f"{server.metrics_url}/healthz"))[0] == 200
        assert f"metrics on http://127.0.0.1:{server.metrics_port}/metrics" in server.log()
        assert "on_main_port" not in server.log()


@pytest.mark.slow
async def test_setup_with_operations_runs_the_listener(connect: ConnectClient) -> None:
    app = web.Application()
    settings = replace(make_settings(), metrics=MetricsSettings(port=0))
    setup(app, settings, operations=True)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        server = Server(app, runner, runner.addresses[0][1])
        await connect(server, key=APP_KEY)
        listener = app[METRICS_LISTENER]
        assert listener.port != server.port
        text = await scrape(server)  # the helper finds the app's own listener
        assert sample(text, "roomkey_connections", app="101", transport="socketio") == 1
        assert (await get(f"{server.url}/readyz"))[0] == 200
        assert (await get(f"{server.url}/metrics"))[0] == 404
    finally:
        await runner.cleanup()
    # Closed with the application.
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", listener.port)) != 0


async def test_setup_adds_no_operations_routes_unless_asked() -> None:
    async def host_health(request: web.Request) -> web.Response:
        return web.Response(text="host's own")

    app = web.Application()
    app.router.add_get("/healthz", host_health)  # the host's URL space stays its own
    setup(app, make_settings())
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        assert await get(f"{url}/healthz") == (200, "host's own")
        assert (await get(f"{url}/readyz"))[0] == 404
        assert (await get(f"{url}/metrics"))[0] == 404
        assert METRICS_LISTENER not in app
        # roomkey itself is there.
        assert (await get(f"{url}/roomkey.js"))[0] == 200
    finally:
        await runner.cleanup()


async def test_on_main_port_puts_metrics_back_with_a_warning() -> None:
    with serve_process(CONFIG + "[metrics]\non_main_port = true\n") as server:
        status, text = await get(f"{server.url}/metrics")
        assert status == 200 and "roomkey_connections_opened_total" in text
        assert (await get(f"{server.metrics_url}/metrics"))[0] == 200  # both
        assert "metrics.on_main_port is on" in server.log()


async def test_metrics_listener_can_be_turned_off() -> None:
    with serve_process(CONFIG + "[metrics]\nenabled = false\n") as server:
        assert (await get(f"{server.url}/healthz"))[0] == 200
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", server.metrics_port)) != 0
        assert "metrics on" not in server.log()


def test_a_busy_metrics_port_stops_serve_with_a_clear_message(tmp_path: Path) -> None:
    config = tmp_path / "roomkey.toml"
    config.write_text(CONFIG)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        serve = [*ROOMKEY, "serve", "--config", str(config), "--port", str(free_port())]
        out = subprocess.run(
            [*serve, "--metrics-port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert out.returncode == EXIT_BIND, out.stderr
    assert (
        f"roomkey: cannot listen: metrics listener cannot listen on 127.0.0.1:{port}: "
        "Address already in use"
    ) in out.stderr.splitlines()
    assert "Traceback" not in out.stderr


def test_metrics_port_must_leave_the_client_port_alone(tmp_path: Path) -> None:
    config = tmp_path / "roomkey.toml"
    config.write_text(
        '[server]\nport = 7001\nworkers = 3\n[redis]\nurl = "redis://x"\n[metrics]\nport = 6999\n'
        + CONFIG
    )
    out = subprocess.run(
        [*ROOMKEY, "check-config", str(config)], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 1
    assert out.stdout.splitlines() == [
        "metrics.port: the metrics listener's port 6999 to 7001 (one per worker) must not be "
        "server.port (7001); metrics.on_main_port = true serves /metrics on the client port"
    ]
    out = subprocess.run(
        [*ROOMKEY, "serve", "--port", "7000", "--metrics-port", "7000"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert "config error: metrics.port: the metrics listener's port 7000 must not" in out.stderr


# -- metrics and health after real traffic -------------------------------------------------


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
