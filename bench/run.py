"""Run every benchmark scenario against roomkey and the baselines, interleaved, in one run.

    python -m bench.run [--smoke] [--rounds N] [--out bench/results]

Each server runs pinned to CPU 0 (``taskset``), each load generator (``bench.loadgen``, wrk)
to CPU 1. Within a round the targets alternate, scenario by scenario, so that noise from other
work on the machine lands on all of them alike; figures are the median over rounds and the
ratios are computed from figures of this one run. Writes ``results.json``, ``results.md`` and
``results.png`` into ``--out``. ``--smoke`` uses tiny sizes (seconds, for the test suite).

Scenarios (see docs/benchmarks.md): authorize requests/s (wrk, JWT identity, private and
presence) against a bare aiohttp JSON handler; connect rate and memory per connection, with
and without a permessage-deflate offer; fan-out deliveries/s and p50/p99/max arrival latency,
burst and paced. Scenarios whose server side does not exist in this build (the Pusher
protocol route, the Redis broker) or whose peer cannot run here are listed as not measured,
with the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import report
from bench.wsclient import HandshakeError, open_ws

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
# The server gets the first CPU this process may use, the load the second (the same one on a
# single-CPU machine, where the figures mean little but the run still works).
_CPUS = sorted(os.sched_getaffinity(0))
SERVER_CPU = str(_CPUS[0])
LOAD_CPU = str(_CPUS[1] if len(_CPUS) > 1 else _CPUS[0])


@dataclass(frozen=True)
class Target:
    name: str
    module: str
    proto: str


ROOMKEY = Target("roomkey", "bench.servers.roomkey_node", "sio")
ROOMKEY_PUSHER = Target("roomkey (Pusher protocol)", "bench.servers.roomkey_node", "pusher")
SIO_BARE = Target("python-socketio room emit", "bench.baselines.socketio_room", "sio-bare")
AIOHTTP = Target("aiohttp WebSocket loop", "bench.baselines.aiohttp_ws", "ws")


@dataclass(frozen=True)
class Sizes:
    authorize_seconds: int
    wrk_connections: int
    # (subscribers, burst messages, paced messages, paced interval seconds)
    fanouts: tuple[tuple[int, int, int, float], ...]
    deflate_clients: tuple[int, ...]
    timeout: float


FULL = Sizes(
    authorize_seconds=5,
    wrk_connections=50,
    fanouts=((1000, 60, 20, 0.1), (10_000, 10, 5, 0.4)),
    deflate_clients=(1000, 10_000),
    timeout=60.0,
)
SMOKE = Sizes(
    authorize_seconds=1,
    wrk_connections=4,
    fanouts=((20, 5, 3, 0.05),),
    deflate_clients=(20,),
    timeout=15.0,
)


def pinned(cpu: str, *argv: str) -> list[str]:
    taskset = shutil.which("taskset")
    if taskset is None:
        raise SystemExit("bench: taskset (util-linux) is required to pin server and load")
    return [taskset, "-c", cpu, *argv]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


class ServerProcess:
    """One server under test, pinned to the server CPU; stopped by its own PID."""

    def __init__(self, module: str) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            pinned(SERVER_CPU, PY, "-m", module, "--port", str(self.port)),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"{module} exited: {err[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{module} did not listen within 20 s")

    def rss(self) -> int:
        return rss_bytes(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def run_session(
    target: Target,
    clients: int,
    *,
    deflate: bool,
    fanout: tuple[int, int, float] | None,
    timeout: float,
) -> dict[str, Any]:
    """Connect ``clients`` to a fresh server, measure memory, optionally run fan-out."""
    server = ServerProcess(target.module)
    try:
        time.sleep(0.3)
        rss0 = server.rss()
        argv = [
            PY,
            "-m",
            "bench.loadgen",
            "--port",
            str(server.port),
            "--proto",
            target.proto,
            "--clients",
            str(clients),
            "--timeout",
            str(timeout),
        ]
        if deflate:
            argv.append("--deflate")
        if fanout is not None:
            burst, paced, interval = fanout
            argv += ["--burst", str(burst), "--paced", str(paced), "--interval", str(interval)]
        gen = subprocess.Popen(
            pinned(LOAD_CPU, *argv),
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            ready = _read_tagged(gen, "READY", timeout * 4)
            time.sleep(0.5)
            rss1 = server.rss()
            assert gen.stdin is not None
            gen.stdin.write("go\n")
            gen.stdin.flush()
            result = _read_tagged(gen, "RESULT", timeout * 4)
            gen.wait(timeout)
        finally:
            if gen.poll() is None:
                gen.kill()
                gen.wait(5)
        connected = max(1, ready["connected"])
        result["memory"] = {
            "rss_before_mb": round(rss0 / 2**20, 1),
            "rss_connected_mb": round(rss1 / 2**20, 1),
            "bytes_per_connection": round((rss1 - rss0) / connected),
        }
        return result
    finally:
        server.stop()


def _read_tagged(proc: subprocess.Popen[str], tag: str, timeout: float) -> dict[str, Any]:
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


# -- authorize (wrk) ---------------------------------------------------------------------

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = "{body}"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Bearer {token}"
"""


def _jwt() -> str:
    import jwt

    from bench.servers.roomkey_node import JWT_SECRET

    payload = {"sub": "bench-user", "name": "Bench", "exp": int(time.time()) + 3600}
    return jwt.encode(payload, JWT_SECRET, algorithm="HS256")


def run_wrk(url: str, body: str, seconds: int, connections: int) -> dict[str, Any]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("bench: wrk is required (Debian package wrk)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT.format(body=body, token=_jwt()))
        script = f.name
    try:
        out = subprocess.run(
            pinned(LOAD_CPU, wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "-s", script, url),
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
        ).stdout
    finally:
        os.unlink(script)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "requests_per_second": float(rps.group(1)) if rps else 0.0,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(0) if errors else "",
    }


def authorize_round(sizes: Sizes) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    cases = [
        ("bare aiohttp JSON handler", AIOHTTP.module, "/auth", "socket_id=1234.1234"),
        (
            "roomkey private",
            ROOMKEY.module,
            "/pusher/auth",
            "socket_id=1234.1234&channel_name=private-bench",
        ),
        (
            "roomkey presence",
            ROOMKEY.module,
            "/pusher/auth",
            "socket_id=1234.1234&channel_name=presence-bench",
        ),
    ]
    for name, module, path, body in cases:
        server = ServerProcess(module)
        try:
            url = f"http://127.0.0.1:{server.port}{path}"
            out[name] = run_wrk(url, body, sizes.authorize_seconds, sizes.wrk_connections)
        finally:
            server.stop()
    return out


# -- availability probes -----------------------------------------------------------------


def pusher_route_answers() -> bool:
    """Whether roomkey in this build upgrades ``/app/{key}?protocol=7``."""
    server = ServerProcess(ROOMKEY.module)
    try:

        async def probe() -> bool:
            try:
                ws = await open_ws(
                    "127.0.0.1",
                    server.port,
                    "/app/bench-key?protocol=7",
                    lambda c, t: None,
                    timeout=5,
                )
            except (HandshakeError, OSError, TimeoutError):
                return False
            ws.close()
            return True

        return asyncio.run(probe())
    finally:
        server.stop()


# -- the run -----------------------------------------------------------------------------


def median_of(runs: list[dict[str, Any]], *path: str) -> float:
    values = []
    for r in runs:
        v: Any = r
        for p in path:
            v = v.get(p, {}) if isinstance(v, dict) else {}
        if isinstance(v, int | float):
            values.append(float(v))
    return round(statistics.median(values), 2) if values else 0.0


def versions() -> dict[str, str]:
    from importlib.metadata import version

    out = {"python": platform.python_version()}
    for dist in ("aiohttp", "python-socketio", "python-engineio", "roomkey"):
        with contextlib.suppress(Exception):
            out[dist] = version(dist)
    wrk = shutil.which("wrk")
    if wrk:
        proc = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10)
        out["wrk"] = (proc.stdout + proc.stderr).split("\n")[0].strip()
    return out


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "server_cpu": SERVER_CPU,
        "load_cpu": LOAD_CPU,
    }


def run(sizes: Sizes, rounds: int, smoke: bool) -> dict[str, Any]:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    started = time.time()
    not_measured: list[dict[str, str]] = []
    targets = [ROOMKEY, SIO_BARE, AIOHTTP]
    if pusher_route_answers():
        targets.append(ROOMKEY_PUSHER)
    else:
        not_measured.append(
            {
                "scenario": "Pusher protocol transport (fan-out, connect, memory)",
                "reason": "this build of roomkey does not answer /app/{key}?protocol=7",
            }
        )
    if importlib.util.find_spec("roomkey.broker.redis") is None:
        not_measured.append(
            {
                "scenario": "two nodes over Redis (fan-out), two workers vs one",
                "reason": "this build of roomkey has no Redis broker",
            }
        )
    not_measured.append(
        {
            "scenario": "laravel-echo-server (peer)",
            "reason": "not installed by this benchmark; see docs/benchmarks.md",
        }
    )

    authorize_runs: list[dict[str, dict[str, Any]]] = []
    sessions: dict[tuple[str, int, bool], list[dict[str, Any]]] = {}
    for rnd in range(rounds):
        order = targets if rnd % 2 == 0 else list(reversed(targets))
        authorize_runs.append(authorize_round(sizes))
        for subscribers, burst, paced, interval in sizes.fanouts:
            for t in order:
                r = run_session(
                    t,
                    subscribers,
                    deflate=False,
                    fanout=(burst, paced, interval),
                    timeout=sizes.timeout,
                )
                sessions.setdefault((t.name, subscribers, False), []).append(r)
        for clients in sizes.deflate_clients:
            for t in order:
                r = run_session(t, clients, deflate=True, fanout=None, timeout=sizes.timeout)
                sessions.setdefault((t.name, clients, True), []).append(r)

    authorize = {
        name: {
            "requests_per_second": median_of(
                [r[name] for r in authorize_runs], "requests_per_second"
            ),
            "non_2xx": max(r[name]["non_2xx"] for r in authorize_runs),
        }
        for name in authorize_runs[0]
    }
    connect = []
    fanout = []
    for (name, n, deflate), runs in sessions.items():
        connect.append(
            {
                "target": name,
                "clients": n,
                "deflate_offered": deflate,
                "connected": min(int(r["connect"]["connected"]) for r in runs),
                "errors": max(int(r["connect"]["errors"]) for r in runs),
                "deflate_accepted": max(int(r["connect"]["deflate_accepted"]) for r in runs),
                "connects_per_second": median_of(runs, "connect", "connects_per_second"),
                "bytes_per_connection": median_of(runs, "memory", "bytes_per_connection"),
            }
        )
        if not deflate:
            for mode in ("burst", "paced"):
                fanout.append(
                    {
                        "target": name,
                        "subscribers": n,
                        "mode": mode,
                        "messages": runs[0][mode]["messages"],
                        "expected": runs[0][mode]["expected"],
                        "received": min(int(r[mode]["received"]) for r in runs),
                        "deliveries_per_second": median_of(runs, mode, "deliveries_per_second"),
                        "p50_ms": median_of(runs, mode, "p50_ms"),
                        "p99_ms": median_of(runs, mode, "p99_ms"),
                        "max_ms": median_of(runs, mode, "max_ms"),
                    }
                )
    result = {
        "mode": "smoke" if smoke else "full",
        "rounds": rounds,
        "command": "python -m bench.run" + (" --smoke" if smoke else "") + f" --rounds {rounds}",
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "machine": machine(),
        "versions": versions(),
        "authorize": authorize,
        "connect": connect,
        "fanout": fanout,
        "not_measured": not_measured,
    }
    result["ratios"] = report.ratios(result)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description="roomkey benchmarks (see docs/benchmarks.md)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (median)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = p.parse_args()
    sizes = SMOKE if args.smoke else FULL
    rounds = args.rounds or (1 if args.smoke else 3)
    result = run(sizes, rounds, args.smoke)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "results.md").write_text(report.markdown(result))
    report.chart(result, out / "results.png")
    print(report.markdown(result))


if __name__ == "__main__":
    main()
