"""``roomkey serve`` as a real process at its start and stop: each failure one line on stderr
(no traceback) and its own exit code (roomkey.startup, docs/operations.md); a start logged once
after the bind, a stop logged once with its signal and the connections drained."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from roomkey.config import DEV_APP_KEY
from roomkey.startup import EXIT_BIND, EXIT_CONFIG, EXIT_REDIS, EXIT_WEB_ROOT
from tests.support.processes import start_roomkey
from tests.support.servers import free_port
from tests.support.waiting import wait_for_condition_blocking

pytestmark = pytest.mark.slow

SECRET = "startup-test-secret-0123456789abcdef"


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "roomkey.cli", "serve", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


def one_line(out: subprocess.CompletedProcess[str]) -> str:
    """The failure's stderr: exactly one line, no traceback, nothing claimed as listening."""
    assert "Traceback" not in out.stderr + out.stdout
    assert "listening on" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if " info " not in line]
    assert len(lines) == 1, out.stderr
    return lines[0]


def config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "roomkey.toml"
    path.write_text(
        f'[metrics]\nport = 0\n{extra}\n[[apps]]\nid = "1"\nkey = "k1"\nsecret = "{SECRET}"\n'
    )
    return path


def test_a_port_in_use_is_one_line_and_exit_3() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = serve("--port", str(port), "--metrics-port", "0")
    assert out.returncode == EXIT_BIND
    line = one_line(out)
    assert line.startswith("roomkey: cannot listen: ")
    assert f"('127.0.0.1', {port})" in line and "address already in use" in line
    assert out.stdout == ""  # the development credentials are shown only once bound


def test_a_bad_config_is_one_line_per_problem_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[server]\nport = "x"\n')
    out = serve("--config", str(path))
    assert out.returncode == EXIT_CONFIG
    assert "Traceback" not in out.stderr
    assert out.stderr.splitlines() == [
        "config error: server.port: must be an integer",
        "config error: apps: at least one [[apps]] table is required",
    ]


def test_the_example_config_is_refused_in_production_until_its_secret_is_ones_own() -> None:
    from tests.support.paths import CONFIG_EXAMPLE

    out = serve("--config", str(CONFIG_EXAMPLE), "--port", str(free_port()))
    assert out.returncode == EXIT_CONFIG
    assert out.stderr.startswith("config error: apps[0].secret: is an example secret")


def test_an_unreachable_redis_is_one_line_and_exit_4(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = f"redis://:hunter2-password@127.0.0.1:{port}/0"
    path = config(tmp_path, f'[redis]\nurl = "{url}"\noperation_timeout_seconds = 0.5\n')
    out = serve("--config", str(path), "--port", str(free_port()))
    assert out.returncode == EXIT_REDIS
    line = one_line(out)
    assert line.startswith(f"roomkey: cannot reach Redis at redis://:***@127.0.0.1:{port}/0 ")
    assert "hunter2" not in out.stderr + out.stdout


def test_a_web_root_without_socketio_client_is_one_line_and_exit_5(tmp_path: Path) -> None:
    web = tmp_path / "web"
    web.mkdir()
    (web / "roomkey.js").write_text("// roomkey.js without its dependency\n")
    path = config(tmp_path, f'[server]\nweb_root = "{web}"\n')
    out = serve("--config", str(path), "--port", str(free_port()))
    assert out.returncode == EXIT_WEB_ROOT
    line = one_line(out)
    assert line.startswith(f"roomkey: web root unusable: {web} has no socket.io-client")


def test_start_and_stop_are_logged_once_each(tmp_path: Path) -> None:
    server = start_roomkey(free_port(), tmp_path / "roomkey.log")

    async def connect_and_stop() -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"ws://127.0.0.1:{server.port}/app/{DEV_APP_KEY}?protocol=7") as ws,
        ):
            hello = json.loads((await ws.receive_json(timeout=5))["data"])
            assert "socket_id" in hello
            server.process.send_signal(15)
            goodbye = await ws.receive(timeout=10)
            assert goodbye.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.CLOSE)

    try:
        asyncio.run(connect_and_stop())
        assert server.process.wait(15) == 0
    finally:
        server.stop()
    log = server.log()
    starts = [line for line in log.splitlines() if "listening on" in line]
    assert len(starts) == 1, log
    assert f"listening on http://127.0.0.1:{server.port} (development mode)" in starts[0]
    assert "backends: memory" in starts[0] and "id=1 key=roomkey-dev-key" in starts[0]
    stops = [line for line in log.splitlines() if "stopped on" in line]
    assert len(stops) == 1, log
    assert "roomkey stopped on SIGTERM: 1 connection(s) told to reconnect (4200)" in stops[0]
    assert log.index("listening on") < log.index("roomkey development app on")


def test_environment_and_secret_file_configure_a_served_process(tmp_path: Path) -> None:
    secret_file = tmp_path / "app-secret"
    secret_file.write_text(SECRET + "\n")
    path = tmp_path / "roomkey.toml"
    path.write_text('[metrics]\nport = 0\n[[apps]]\nid = "1"\nkey = "k1"\nsecret = "short"\n')
    port = free_port()
    env = {
        **os.environ,
        "ROOMKEY_SERVER__PORT": str(port),
        "ROOMKEY_APPS__0__SECRET_FILE": str(secret_file),
    }
    out = subprocess.run(
        [sys.executable, "-m", "roomkey.cli", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert out.returncode == 0, out.stdout
    assert f"  server.port = {port}  (env ROOMKEY_SERVER__PORT)" in out.stdout
    assert (
        f"  apps[0].secret = (secret, not shown)  (file {secret_file} named by env "
        "ROOMKEY_APPS__0__SECRET_FILE)"
    ) in out.stdout
    assert SECRET not in out.stdout and "short" not in out.stdout

    proc = subprocess.Popen(
        [sys.executable, "-m", "roomkey.cli", "serve", "--config", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:

        def healthy() -> bool:
            assert proc.poll() is None, "roomkey exited at start"
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return True
            except OSError:
                return False

        wait_for_condition_blocking(healthy, "roomkey on the port from the environment")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert SECRET not in err.decode()
