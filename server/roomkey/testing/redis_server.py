"""A real redis-server on loopback for tests, started and stopped by its process id (never
a fake: roomkey's Redis backends use Lua scripts, pub/sub and key expiry)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass

__all__ = ["RedisServer", "free_port"]

START_TIMEOUT_S = 10.0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 a moment ago (for a process that needs it up front)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class RedisServer:
    """One redis-server process: ``RedisServer.start()``, ``url``, ``stop()``. No
    persistence, loopback only; ``workdir`` is its data directory (removed at ``stop``)."""

    port: int
    process: subprocess.Popen[bytes]
    workdir: str

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:{port}/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(
        cls, port: int | None = None, workdir: str | None = None, extra: tuple[str, ...] = ()
    ) -> RedisServer:
        """Start ``redis-server`` (from ``PATH``) on ``port`` (a free one by default) and
        return once it accepts connections; ``workdir`` reuses a data directory (a server
        stopped with ``SHUTDOWN SAVE`` comes back with its data); ``extra``: more
        command-line options (``--replicaof host port``...). ``RuntimeError`` when the
        binary is missing or does not start within 10 s."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        port = port or free_port()
        workdir = workdir or tempfile.mkdtemp(prefix="roomkey-redis-")
        proc = subprocess.Popen(
            [
                binary,
                *("--port", str(port), "--bind", "127.0.0.1", "--save", ""),
                *("--appendonly", "no", "--dir", workdir, "--protected-mode", "yes"),
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _accepts(port):
            if proc.poll() is not None or time.monotonic() >= deadline:
                proc.kill()
                proc.wait()
                raise RuntimeError(f"redis-server did not start on port {port}")
            time.sleep(0.02)
        return cls(port, proc, workdir)

    def cli(self, *args: str) -> str:
        """``redis-cli -p PORT ARGS...``'s output (10 s at most)."""
        out = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], capture_output=True, timeout=10, check=True
        )
        return out.stdout.decode().strip()

    def stop(self) -> None:
        """Terminate the process (kill after 5 s) and remove its data directory."""
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)
