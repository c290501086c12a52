"""A real redis-server on loopback: one for the session (``redis_server`` fixture), or one
of a test's own that it may stop, restart and flush. A missing binary fails the test that
needs it; it never skips it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass

import pytest

from tests.support.markers import REDIS, require
from tests.support.servers import free_port
from tests.support.waiting import wait_for_condition_blocking

START_TIMEOUT_S = 10.0


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]
    workdir: str

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], capture_output=True, timeout=10, check=True
        )
        return out.stdout.decode().strip()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def start_redis(
    port: int | None = None, workdir: str | None = None, extra: tuple[str, ...] = ()
) -> RedisServer:
    """A redis-server on ``port`` (free by default); ``workdir`` reuses a data directory, so
    that a server stopped with ``SHUTDOWN SAVE`` comes back with its data; ``extra``: more
    command-line options (``--replicaof host port``...)."""
    require(REDIS, "a redis-server")
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: run the README's test command (it installs it)")
    port = port or free_port()
    workdir = workdir or tempfile.mkdtemp(prefix="roomkey-redis-")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
            "--protected-mode",
            "yes",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_condition_blocking(
            lambda: _accepts(port), "redis-server to accept connections", timeout=START_TIMEOUT_S
        )
    except AssertionError:
        proc.kill()
        proc.wait()
        pytest.fail("redis-server did not start")
    return RedisServer(port, proc, workdir)


def stop_redis(server: RedisServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(5)
    except subprocess.TimeoutExpired:
        server.process.kill()
    shutil.rmtree(server.workdir, ignore_errors=True)
