"""laravel-echo-server as the benchmark runs it: the npm package pinned in
``bench/peers/laravel-echo-server/package.json``, started with its own CLI
(``laravel-echo-server start --config FILE``) on a config written here, fed by a throw-away
redis-server as a Laravel application feeds it.

- One redis-server (``bench.processes.RedisProcess``) per session, on the server CPU like the
  Redis scenarios' one. The peer ``PSUBSCRIBE``s to ``<keyPrefix>*`` and broadcasts every JSON
  message ``{"event", "data", "socket"}`` published on ``<keyPrefix><channel>`` to the
  Socket.IO room ``<channel>``; the load generator publishes there (``bench/redis_publisher.py``).
- ``database`` is ``redis`` (presence bookkeeping, unused on a public channel), ``devMode``
  off, the HTTP event subscriber off (Redis is the only way in), one API client
  (``bench``/``bench-key``) so the load generator can read ``/apps/bench/channels/bench``.
- No ``authHost``: the benchmark subscribes to a public channel. A private channel's
  authorization is an HTTP call from the peer to a Laravel application, so measuring it would
  measure that application, not the server.
- The Node process is pinned to the server CPU with ``taskset``, its output goes to a log file
  in its own temporary directory (never a pipe that could fill), and it counts as started
  once it logs "Server ready!", which it does after its Redis ``PSUBSCRIBE`` is acknowledged.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.processes import (
    SERVER_CPU,
    RedisProcess,
    free_port,
    pinned,
    rss_bytes,
    stop_process,
    tree_cpu_seconds,
    wait_listening,
)

PEER_DIR = Path(__file__).resolve().parent / "laravel-echo-server"
PACKAGE_DIR = PEER_DIR / "node_modules" / "laravel-echo-server"
CLI = PACKAGE_DIR / "bin" / "server.js"
NAME = "laravel-echo-server"
APP_ID = "bench"
APP_KEY = "bench-key"
# The Redis channel prefix (Laravel's ``database.redis.options.prefix``; the peer's
# ``databaseConfig.redis.keyPrefix``): messages for channel ``bench`` go to ``bench_bench``.
KEY_PREFIX = "bench_"
START_SECONDS = 20.0
READY_LINE = "Server ready!"


def pinned_version() -> str:
    """The version ``package.json`` pins."""
    manifest = json.loads((PEER_DIR / "package.json").read_text())
    return str(manifest["dependencies"][NAME])


def installed_versions() -> dict[str, str]:
    """``laravel-echo-server`` and its ``socket.io``, as installed; raises ``SystemExit`` when
    the peer is missing or not the pinned version (the run must not silently skip it)."""
    hint = f"run `npm ci` in {PEER_DIR.relative_to(PEER_DIR.parents[2])} (scripts/test.sh does)"
    if shutil.which("node") is None:
        raise SystemExit("bench: node is required for the laravel-echo-server peer")
    if not CLI.is_file():
        raise SystemExit(f"bench: laravel-echo-server is not installed: {hint}")
    found = json.loads((PACKAGE_DIR / "package.json").read_text())["version"]
    if found != pinned_version():
        raise SystemExit(
            f"bench: laravel-echo-server {found} is installed, {pinned_version()} is pinned: {hint}"
        )
    sio = json.loads((PEER_DIR / "node_modules" / "socket.io" / "package.json").read_text())
    return {NAME: str(found), "socket.io (peer)": str(sio["version"])}


def echo_config(port: int, redis_url: str) -> dict[str, Any]:
    """The peer's ``laravel-echo-server.json`` for ``port`` and the Redis at ``redis_url``."""
    url = urlsplit(redis_url)
    return {
        "clients": [{"appId": APP_ID, "key": APP_KEY}],
        "database": "redis",
        "databaseConfig": {
            "redis": {
                "host": url.hostname or "127.0.0.1",
                "port": url.port or 6379,
                "db": int(url.path.lstrip("/") or 0),
                "keyPrefix": KEY_PREFIX,
            }
        },
        "devMode": False,
        "host": "127.0.0.1",
        "port": port,
        "protocol": "http",
        "socketio": {},
        "subscribers": {"http": False, "redis": True},
        "apiOriginAllow": {
            "allowCors": False,
            "allowOrigin": "",
            "allowMethods": "",
            "allowHeaders": "",
        },
    }


class EchoServerPeer:
    """A redis-server and laravel-echo-server on free ports, both pinned to ``cpus``; ``rss``
    is the Node process's. The load generator publishes through the Redis (``loadgen_args``)."""

    def __init__(self, cpus: str = SERVER_CPU) -> None:
        installed_versions()
        self.redis: RedisProcess | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.workdir = Path(tempfile.mkdtemp(prefix="roomkey-bench-echo-"))
        try:
            self.redis = RedisProcess(cpus=cpus)
            self.port = free_port()
            config = self.workdir / "laravel-echo-server.json"
            redis_url = self.redis.url
            config.write_text(json.dumps(echo_config(self.port, redis_url), indent=2))
            self.log = self.workdir / "server.log"
            # The CLI reads LARAVEL_ECHO_SERVER_* variables over its config: none leak in.
            env = {k: v for k, v in os.environ.items() if not k.startswith("LARAVEL_ECHO_")}
            node = shutil.which("node") or "node"
            with self.log.open("wb") as out:
                self.proc = subprocess.Popen(
                    pinned(cpus, node, str(CLI), "start", f"--config={config}"),
                    cwd=self.workdir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            self._wait_ready()
            wait_listening(self.proc, self.port, NAME)
        except BaseException:
            self.stop()
            raise
        self.loadgen_args: tuple[str, ...] = (
            "--redis-url",
            redis_url,
            "--redis-prefix",
            KEY_PREFIX,
        )

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            if READY_LINE in text:
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"{NAME} exited: {text[-800:]}")
            time.sleep(0.05)
        raise RuntimeError(
            f"{NAME} not ready within {START_SECONDS} s: "
            f"{self.log.read_text(errors='replace')[-800:]}"
        )

    def rss(self) -> int:
        assert self.proc is not None
        return rss_bytes(self.proc.pid)

    def cpu(self) -> float:
        assert self.proc is not None
        return tree_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        if self.redis is not None:
            self.redis.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
