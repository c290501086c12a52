"""The benchmark's processes: servers under test, redis-server and the load generator, each
pinned to its CPU(s) with ``taskset`` and stopped by its own PID. Only 127.0.0.1 is used."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
# The server gets the first CPU this process may use, the load the second (the same one on a
# single-CPU machine, where the figures mean little but the run still works).
_CPUS = sorted(os.sched_getaffinity(0))
SERVER_CPU = str(_CPUS[0])
LOAD_CPU = str(_CPUS[1] if len(_CPUS) > 1 else _CPUS[0])
ALL_CPUS = ",".join(str(c) for c in _CPUS)


def pinned(cpus: str, *argv: str) -> list[str]:
    taskset = shutil.which("taskset")
    if taskset is None:
        raise SystemExit("bench: taskset (util-linux) is required to pin server and load")
    return [taskset, "-c", cpus, *argv]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """``pid``'s living child processes, their children and so on (``/proc/.../children``)."""
    found: list[int] = []
    todo = [pid]
    while todo and len(found) < 1000:  # bounded: a server under test has a handful
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                kids = [int(k) for k in task.read_text().split()]
            except OSError:  # the task ended meanwhile
                continue
            found += kids
            todo += kids
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU time used so far by ``pid`` and every living process below it (``--workers``
    spawns its workers as children; a process that has ended no longer counts)."""
    total = 0.0
    for p in [pid, *descendants(pid)]:
        try:
            total += cpu_seconds(p)
        except OSError:  # ended meanwhile
            continue
    return total


def add_cpu_figures(result: dict[str, Any], used: float) -> None:
    """``result["cpu"]``: the server CPU seconds ``used`` over a fan-out (burst and paced,
    publishing included) and the deliveries per CPU-second that makes: what one core can
    deliver whatever the load generator's pace."""
    delivered = sum(int(result[m]["received"]) for m in ("burst", "paced") if m in result)
    result["cpu"] = {
        "server_cpu_seconds": round(used, 3),
        "deliveries_per_cpu_second": round(delivered / used) if used > 0 else 0,
    }


def wait_listening(proc: subprocess.Popen[bytes], port: int, what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"{what} exited: {err[-500:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen within 20 s")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Server(Protocol):
    """What a session needs of a server under test: its port, the arguments the load
    generator needs to publish to it, its memory, and a way to stop it."""

    port: int
    loadgen_args: tuple[str, ...]

    def rss(self) -> int: ...

    def cpu(self) -> float: ...

    def stop(self) -> None: ...


class ServerProcess:
    """One server under test (``python -m module --port P [args]``) pinned to ``cpus``.
    The load generator publishes through its REST API (no extra arguments)."""

    loadgen_args: tuple[str, ...] = ()

    def __init__(self, module: str, *args: str, cpus: str = SERVER_CPU) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            pinned(cpus, PY, "-m", module, "--port", str(self.port), *args),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_listening(self.proc, self.port, module)
        except BaseException:
            self.stop()
            raise

    def rss(self) -> int:
        return rss_bytes(self.proc.pid)

    def cpu(self) -> float:
        return tree_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        stop_process(self.proc)


def redis_server(
    binary: str, cpus: str, port: int, workdir: str, *extra: str
) -> subprocess.Popen[bytes]:
    """A redis-server on 127.0.0.1:``port`` pinned to ``cpus``, without persistence, its
    files in ``workdir``; ``extra``: more options (a cluster node's)."""
    return subprocess.Popen(
        pinned(
            cpus,
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            *extra,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


class RedisProcess:
    """A throw-away redis-server on a free port (no persistence), pinned to ``cpus``."""

    def __init__(self, cpus: str = SERVER_CPU) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("bench: redis-server is required for the Redis scenarios")
        self.port = free_port()
        self.workdir = tempfile.mkdtemp(prefix="roomkey-bench-redis-")
        self.proc = redis_server(binary, cpus, self.port, self.workdir)
        try:
            wait_listening(self.proc, self.port, "redis-server")
        except BaseException:
            self.stop()
            raise

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        stop_process(self.proc)
        shutil.rmtree(self.workdir, ignore_errors=True)


def read_tagged(proc: subprocess.Popen[str], tag: str, timeout: float) -> dict[str, Any]:
    """The JSON after ``tag`` on the process's stdout, within ``timeout`` seconds."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"load generator ended before {tag}: {err[-800:]}")
        if line.startswith(tag + " "):
            parsed: dict[str, Any] = json.loads(line[len(tag) + 1 :])
            return parsed
    raise RuntimeError(f"no {tag} within {timeout} s")


def run_loadgen(
    ports: Sequence[int],
    proto: str,
    clients: int,
    *,
    deflate: bool,
    fanout: tuple[int, int, float] | None,
    timeout: float,
    on_ready: Callable[[dict[str, Any]], None] | None = None,
    on_fanned: Callable[[], None] | None = None,
    cpus: str = LOAD_CPU,
    extra_args: Sequence[str] = (),
) -> dict[str, Any]:
    """One ``bench.loadgen`` run: connect (spread over ``ports``), call ``on_ready`` with the
    connect figures (the caller measures memory then), then the fan-out (published through
    the first port's REST API, or as ``extra_args`` say, e.g. through Redis), then call
    ``on_fanned`` while every client is still connected (the caller reads CPU then: what the
    servers do when the clients leave is not delivery work). The ``RESULT`` figures."""
    argv = [
        PY,
        "-m",
        "bench.loadgen",
        "--port",
        ",".join(str(p) for p in ports),
        "--proto",
        proto,
        "--clients",
        str(clients),
        "--timeout",
        str(timeout),
        *extra_args,
    ]
    if deflate:
        argv.append("--deflate")
    if fanout is not None:
        burst, paced, interval = fanout
        argv += ["--burst", str(burst), "--paced", str(paced), "--interval", str(interval)]
    gen = subprocess.Popen(
        pinned(cpus, *argv),
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = read_tagged(gen, "READY", timeout * 4)
        if on_ready is not None:
            on_ready(ready)
        assert gen.stdin is not None
        gen.stdin.write("go\n")
        gen.stdin.flush()
        read_tagged(gen, "FANNED", timeout * 8)
        if on_fanned is not None:
            on_fanned()
        gen.stdin.write("leave\n")
        gen.stdin.flush()
        result = read_tagged(gen, "RESULT", timeout * 4)
        gen.wait(timeout)
        return result
    finally:
        if gen.poll() is None:
            gen.kill()
            gen.wait(5)


class RedisClusterProcess:
    """A throw-away Redis Cluster of ``masters`` masters without replicas (created with
    ``redis-cli --cluster create``), every process pinned to ``cpus``."""

    def __init__(self, masters: int = 3, cpus: str = SERVER_CPU) -> None:
        binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if binary is None or cli is None:
            raise SystemExit("bench: redis-server and redis-cli are required")
        self.workdir = tempfile.mkdtemp(prefix="roomkey-bench-cluster-")
        self.ports: list[int] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        try:
            while len(self.ports) < masters:
                port = free_port()
                if port + 10000 > 65535:  # the cluster bus port
                    continue
                self.ports.append(port)
                self.procs.append(
                    redis_server(
                        binary,
                        cpus,
                        port,
                        self.workdir,
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        f"{self.workdir}/nodes-{port}.conf",
                    )
                )
                wait_listening(self.procs[-1], port, "redis-server (cluster)")
            subprocess.run(
                [cli, "--cluster", "create", *self.addresses, "--cluster-yes"],
                capture_output=True,
                timeout=30,
                check=True,
            )
            deadline = time.monotonic() + 20
            while not all(self._ok(cli, p) for p in self.ports):
                if time.monotonic() > deadline:
                    raise RuntimeError("the bench cluster did not reach cluster_state:ok")
                time.sleep(0.1)
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def _ok(cli: str, port: int) -> bool:
        out = subprocess.run(
            [cli, "-p", str(port), "CLUSTER", "INFO"], capture_output=True, timeout=5, check=False
        )
        return b"cluster_state:ok" in out.stdout

    @property
    def addresses(self) -> list[str]:
        return [f"127.0.0.1:{p}" for p in self.ports]

    def cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.procs)

    def stop(self) -> None:
        for proc in self.procs:
            stop_process(proc)
        shutil.rmtree(self.workdir, ignore_errors=True)
