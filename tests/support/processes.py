"""roomkey in its own process (``roomkey serve``, stopped by PID), for tests that need what
only a process shows: the development preset with its demo (browser tests), its RSS, or what
it logs."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.servers import free_port
from tests.support.waiting import wait_for_condition_blocking

START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 15.0


@dataclass
class RoomkeyProcess:
    """``roomkey serve`` (development preset) on 127.0.0.1:``port``, output in ``log_path``,
    its metrics listener on 127.0.0.1:``metrics_port``."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    metrics_port: int
    prefix: str = ""  # roomkey serve mounts every route at the root

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    def metrics(self) -> str:
        """``GET /metrics`` from the process's metrics listener."""
        with urllib.request.urlopen(f"{self.metrics_url}/metrics", timeout=5) as resp:
            return str(resp.read().decode())

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (graceful: clients are told 4200) or SIGKILL (a crash); waits for exit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)


def start_roomkey(
    port: int,
    log_path: Path,
    config: Path | None = None,
    *,
    command: Sequence[str] = (sys.executable, "-m", "roomkey.cli"),
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> RoomkeyProcess:
    """Start ``roomkey serve --port port`` (with ``--config config`` if given, its metrics
    listener on another free port) and wait until ``/healthz`` answers. ``command``: how
    roomkey is run (default: this interpreter's); ``cwd`` and ``env``: the process's
    (default: this one's)."""
    metrics_port = free_port()
    with log_path.open("ab") as log:
        args = ["serve", "--host", "127.0.0.1", "--port", str(port)]
        args += ["--metrics-port", str(metrics_port)]
        if config is not None:
            args += ["--config", str(config)]
        process = subprocess.Popen(
            [*command, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=None if env is None else dict(env),
        )
    server = RoomkeyProcess(port, process, log_path, metrics_port)

    def answers() -> bool:
        if process.poll() is not None:
            pytest.fail(f"roomkey exited with {process.returncode}:\n{server.log()}")
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=1) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    try:
        wait_for_condition_blocking(
            answers, "roomkey to answer /healthz", timeout=START_TIMEOUT_S, interval=0.05
        )
    except AssertionError:
        server.stop(kill=True)
        pytest.fail(f"roomkey did not answer /healthz:\n{server.log()}")
    return server


@contextmanager
def serve_process(config_toml: str) -> Iterator[RoomkeyProcess]:
    """``roomkey serve --config`` with ``config_toml`` on a free port, stopped on exit."""
    workdir = Path(tempfile.mkdtemp(prefix="roomkey-serve-"))
    config = workdir / "roomkey.toml"
    config.write_text(config_toml, encoding="utf-8")
    server = start_roomkey(free_port(), workdir / "stderr.log", config)
    try:
        yield server
    finally:
        server.stop()
