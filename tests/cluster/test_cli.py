"""The ``roomkey`` command, run as a real subprocess."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import aiohttp

import roomkey
from roomkey.config.checks import is_shipped_secret
from roomkey.core.signing import sign_channel, sign_user
from tests.support.paths import CONFIG_EXAMPLE
from tests.support.servers import free_port
from tests.support.waiting import wait_for_condition

# The console script pip installed next to this interpreter: the command users type.
ROOMKEY = [str(Path(sys.executable).parent / "roomkey")]
EXAMPLE = CONFIG_EXAMPLE


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ROOMKEY, *args], capture_output=True, text=True, timeout=30)


def test_check_config_accepts_the_example_with_a_secret_of_ones_own(tmp_path: Path) -> None:
    # As shipped, its placeholder secret is refused (tests/test_unsafe_defaults.py).
    path = tmp_path / "roomkey.toml"
    path.write_text(EXAMPLE.read_text().replace("change-me-secret-0123456789", "x7" * 16))
    out = run("check-config", str(path))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "OK (1 app(s))" in out.stdout


def test_check_config_lists_every_error_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[server]\nport = "x"\n[[apps]]\nid = "1"\nkey = "a:b"\nsecret = "short"\n'
        '[[apps]]\nkey = "k2"\nsecret = "k2-secret-0123456789"\n'
    )
    out = run("check-config", str(path))
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert lines == [
        "server.port: must be an integer",
        "apps[0].key: must not contain ':'",
        "apps[0].secret: must be at least 16 characters",
        "apps[1].id: is required",
    ]
    assert "4 error(s)" in out.stderr


def test_check_config_missing_file(tmp_path: Path) -> None:
    out = run("check-config", str(tmp_path / "nope.toml"))
    assert out.returncode == 1
    assert "cannot read" in out.stdout


def test_serve_refuses_a_bad_config(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[[apps]]\nid = 1\n")
    out = run("serve", "--config", str(path))
    assert out.returncode == 2
    assert "config error: apps[0].id: must be a string" in out.stderr


def test_sign_matches_the_protocol_vectors() -> None:
    common = ["--key", "k", "--secret", "0123456789abcdef", "--socket-id", "1.2"]
    out = run("sign", *common, "--channel", "private-a")
    assert out.stdout.strip() == sign_channel("k", "0123456789abcdef", "1.2", "private-a")
    out = run("sign", *common, "--user-data", '{"id":"1"}')
    assert out.stdout.strip() == sign_user("k", "0123456789abcdef", "1.2", '{"id":"1"}')


async def test_serve_without_config_runs_the_development_app() -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *ROOMKEY,
        "serve",
        "--port",
        str(port),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        healthy = None
        async with aiohttp.ClientSession() as http:

            async def answered_or_exited() -> bool:
                nonlocal healthy
                if proc.returncode is not None:
                    return True
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        healthy = (resp.status, await resp.json())
                        return True
                except aiohttp.ClientConnectionError:
                    return False

            await wait_for_condition(
                answered_or_exited, "roomkey to answer /healthz", timeout=20, interval=0.1
            )
        assert healthy == (200, {"status": "ok"})
    finally:
        if proc.returncode is None:
            proc.terminate()
        try:
            out_bytes, err_bytes = await asyncio.wait_for(proc.communicate(), 15)
        except TimeoutError:
            proc.kill()
            out_bytes, err_bytes = await proc.communicate()
    err = err_bytes.decode()
    assert f"listening on http://127.0.0.1:{port}" in err
    assert "id=1" in err and "key=roomkey-dev-key" in err
    # The secret is never in a log line; the credentials are shown, for humans, on stdout.
    assert "roomkey-dev-secret" not in err
    assert out_bytes.decode().splitlines() == [
        f"roomkey development app on http://127.0.0.1:{port}: "
        "id=1 key=roomkey-dev-key secret=roomkey-dev-secret"
    ]


def test_serve_refuses_workers_without_redis() -> None:
    out = run("serve", "--workers", "2")
    assert out.returncode == 2
    assert "needs redis.url" in out.stderr


def test_version() -> None:
    out = run("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"roomkey {roomkey.__version__}"


def test_help_lists_the_exit_codes() -> None:
    out = run("serve", "--help")
    assert "3 cannot bind (port in use)" in " ".join(out.stdout.split())
    assert "4 Redis unreachable at start" in " ".join(out.stdout.split())


def test_init_writes_a_private_starter_config_with_fresh_secrets(tmp_path: Path) -> None:
    path = tmp_path / "roomkey.toml"
    out = run("init", str(path))
    assert out.returncode == 0, out.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = tomllib.loads(path.read_text())
    # Valid as written, in production mode, with no published secret.
    checked = run("check-config", str(path))
    assert checked.returncode == 0, checked.stdout
    assert first["server"]["mode"] == "production"
    secret = first["apps"][0]["secret"]
    assert not is_shipped_secret(secret) and secret not in checked.stdout

    again = run("init", str(path))  # never overwritten by accident
    assert again.returncode == 2 and "--force" in again.stderr
    assert tomllib.loads(path.read_text()) == first
    path.chmod(0o644)
    assert run("init", "--force", str(path)).returncode == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = tomllib.loads(path.read_text())
    assert second["apps"][0]["secret"] != secret
    assert second["jwt"]["secret"] != first["jwt"]["secret"]


def test_the_preset_warns_that_it_ignores_environment_settings() -> None:
    out = subprocess.run(
        [*ROOMKEY, "serve", "--host", "0.0.0.0"],  # refused at once: nothing is served
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "ROOMKEY_SERVER__PORT": "7000"},
    )
    assert out.returncode == 2
    assert out.stderr.startswith("roomkey: warning: ROOMKEY_<TABLE>__<KEY> variables apply")
