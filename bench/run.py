"""Run every benchmark scenario against roomkey and the baselines, interleaved, in one run.

    python -m bench.run [--smoke] [--rounds N] [--skip-long] [--out bench/results]

Each server runs pinned to CPU 0 (``taskset``), each load generator (``bench.loadgen``, wrk)
to CPU 1. Within a round the targets alternate, scenario by scenario, so that noise from other
work on the machine lands on all of them alike; figures are the median over rounds and the
ratios are computed from figures of this one run. Writes ``results.json``, ``results.md`` and
``results.png`` into ``--out``. ``--smoke`` uses tiny sizes (seconds, for the test suite).

Scenarios (see docs/benchmarks.md): authorize requests/s (wrk, JWT identity, private and
presence) against a bare aiohttp JSON handler; connect rate and memory per connection, with
and without a permessage-deflate offer; fan-out deliveries/s and p50/p99/max arrival latency,
burst and paced, published through the signed REST API, for roomkey over Socket.IO and over
the Pusher protocol; the same over two nodes and Redis, and ``--workers 2`` against
``--workers 1`` (``bench/cluster.py``). Then, once per run (not per round), the long
scenarios that ``--skip-long`` leaves out: the soak (``bench/soak.py``: minutes of churn,
memory and Redis, RSS and every internal map after a warm-up that runs until RSS settles and
after each period of the churn; ``python -m bench.soak`` runs it alone) and 100,000 idle
connections
(``bench/idle.py``; as many as the machine's open-file limit lets one process hold). The peer, laravel-echo-server (npm, socket.io 2, fed
by Redis ``PUBLISH`` as a Laravel application feeds it; ``bench/peers/``), takes part in the
connect and fan-out scenarios like any other target, on a public channel; what is left out is
listed as not measured, with the reason.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import cluster, report
from bench import idle as idle_scenario
from bench import soak as soak_scenario
from bench.peers import laravel_echo_server
from bench.peers.laravel_echo_server import EchoServerPeer
from bench.processes import (
    LOAD_CPU,
    ROOT,
    SERVER_CPU,
    Server,
    ServerProcess,
    add_cpu_figures,
    run_loadgen,
)
from bench.wrk import PRESENCE_BODY, PRIVATE_BODY, run_wrk


@dataclass(frozen=True)
class Target:
    """A server under test: ``python -m module``, or (``peer``) laravel-echo-server with its
    redis-server; ``proto`` is the load generator's protocol for it."""

    name: str
    module: str
    proto: str
    peer: bool = False


ROOMKEY = Target("roomkey", "bench.servers.roomkey_node", "sio")
ROOMKEY_PUSHER = Target("roomkey (Pusher protocol)", "bench.servers.roomkey_node", "pusher")
SIO_BARE = Target("python-socketio room emit", "bench.baselines.socketio_room", "sio-bare")
AIOHTTP = Target("aiohttp WebSocket loop", "bench.baselines.aiohttp_ws", "ws")
ECHO = Target(report.ECHO, "", "echo", peer=True)


def start_server(target: Target) -> Server:
    return EchoServerPeer() if target.peer else ServerProcess(target.module)


@dataclass(frozen=True)
class Sizes:
    authorize_seconds: int
    wrk_connections: int
    # (subscribers, burst messages, paced messages, paced interval seconds)
    fanouts: tuple[tuple[int, int, int, float], ...]
    deflate_clients: tuple[int, ...]
    timeout: float
    # the Redis scenarios (two nodes, workers): subscribers, burst, paced, interval
    cluster_fanout: tuple[int, int, int, float]
    # the long scenarios: churn seconds per backend (after its warm-up), its periods and its
    # sampling interval; idle clients
    soak_seconds: float
    soak_periods: int
    soak_interval: float
    idle_clients: int


FULL = Sizes(
    authorize_seconds=5,
    wrk_connections=50,
    fanouts=((1000, 60, 20, 0.1), (10_000, 10, 5, 0.4)),
    deflate_clients=(1000, 10_000),
    timeout=60.0,
    cluster_fanout=(1000, 60, 20, 0.1),
    soak_seconds=90.0,
    soak_periods=3,
    soak_interval=5.0,
    idle_clients=100_000,
)
SMOKE = Sizes(
    authorize_seconds=1,
    wrk_connections=4,
    fanouts=((20, 5, 3, 0.05),),
    deflate_clients=(20,),
    timeout=15.0,
    cluster_fanout=(20, 5, 3, 0.05),
    soak_seconds=2.0,
    soak_periods=2,
    soak_interval=1.0,
    idle_clients=100,
)
SOAK_CONCURRENCY = 16


def run_session(
    target: Target,
    clients: int,
    *,
    deflate: bool,
    fanout: tuple[int, int, float] | None,
    timeout: float,
    loadgen_args: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Connect ``clients`` to a fresh server, measure memory, optionally run fan-out
    (``loadgen_args``: more arguments for ``bench.loadgen``)."""
    server = start_server(target)
    try:
        time.sleep(0.3)
        rss0 = server.rss()
        rss1 = rss0
        connected = 1
        cpu0 = cpu1 = 0.0

        def measure(ready: dict[str, Any]) -> None:
            nonlocal rss1, connected, cpu0
            time.sleep(0.5)
            rss1 = server.rss()
            connected = max(1, ready["connected"])
            cpu0 = server.cpu()

        def fanned() -> None:
            nonlocal cpu1
            cpu1 = server.cpu()

        result = run_loadgen(
            [server.port],
            target.proto,
            clients,
            deflate=deflate,
            fanout=fanout,
            timeout=timeout,
            on_ready=measure,
            on_fanned=fanned,
            extra_args=(*server.loadgen_args, *loadgen_args),
        )
        result["memory"] = {
            "rss_before_mb": round(rss0 / 2**20, 1),
            "rss_connected_mb": round(rss1 / 2**20, 1),
            "bytes_per_connection": round((rss1 - rss0) / connected),
        }
        if fanout is not None:
            add_cpu_figures(result, cpu1 - cpu0)
        return result
    finally:
        server.stop()


# -- authorize (wrk) ---------------------------------------------------------------------


def authorize_round(sizes: Sizes) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    cases = [
        ("bare aiohttp JSON handler", AIOHTTP.module, "/auth", "socket_id=1234.1234"),
        ("aiohttp form + HMAC handler", AIOHTTP.module, "/auth-hmac", PRIVATE_BODY),
        (
            "roomkey private",
            ROOMKEY.module,
            "/pusher/auth",
            PRIVATE_BODY,
        ),
        (
            "roomkey presence",
            ROOMKEY.module,
            "/pusher/auth",
            PRESENCE_BODY,
        ),
    ]
    for name, module, path, body in cases:
        server = ServerProcess(module)
        try:
            url = f"http://127.0.0.1:{server.port}{path}"
            out[name] = run_wrk(url, body, sizes.authorize_seconds, sizes.wrk_connections)
        finally:
            server.stop()
    for count in (1, 2):
        out[cluster.workers_authorize_target(count)] = cluster.workers_authorize(
            count, sizes.authorize_seconds, sizes.wrk_connections
        )
    return out


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
    node = shutil.which("node")
    if node:
        proc = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10)
        out["node"] = proc.stdout.strip()
    out.update(laravel_echo_server.installed_versions())
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


def run(sizes: Sizes, rounds: int, smoke: bool, skip_long: bool = False) -> dict[str, Any]:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    started = time.time()
    # Fails at once, before any scenario, when the peer is not installed as pinned.
    laravel_echo_server.installed_versions()
    targets = [ROOMKEY, ROOMKEY_PUSHER, SIO_BARE, AIOHTTP, ECHO]
    not_measured: list[dict[str, str]] = [
        {
            "scenario": "laravel-echo-server private and presence channels",
            "reason": "its channel authorization is an HTTP call to a Laravel application "
            "(authHost), which would measure that application; the peer is measured on a "
            "public channel, as roomkey is in the fan-out scenarios",
        }
    ]

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
        for name, subscribers, r in cluster.redis_round(
            sizes.cluster_fanout, sizes.timeout, reverse=rnd % 2 == 1
        ):
            sessions.setdefault((name, subscribers, False), []).append(r)

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
        # Several processes (the Redis scenarios): no single figure of memory per connection.
        if "memory" in runs[0]:
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
                        "publish_failures": max(
                            int(r[mode].get("publish_failures", 0)) for r in runs
                        ),
                        "deliveries_per_cpu_second": median_of(
                            runs, "cpu", "deliveries_per_cpu_second"
                        ),
                    }
                )
                if "redis" in runs[0]:  # the two-node scenarios: Redis's own CPU
                    fanout[-1]["redis_cpu_ms_per_message"] = median_of(
                        runs, "redis", "cpu_ms_per_message"
                    )
    soak: list[dict[str, Any]] = []
    idle: list[dict[str, Any]] = []
    if skip_long:
        not_measured.append(
            {"scenario": "soak and idle connections", "reason": "--skip-long was given"}
        )
    else:
        soak = soak_scenario.run(
            sizes.soak_seconds, sizes.soak_interval, SOAK_CONCURRENCY, sizes.soak_periods
        )
        idle = idle_scenario.run(
            run_session, [ROOMKEY, ROOMKEY_PUSHER], sizes.idle_clients, sizes.timeout * 2
        )
    command = "python -m bench.run" + (" --smoke" if smoke else "") + f" --rounds {rounds}"
    result = {
        "mode": "smoke" if smoke else "full",
        "rounds": rounds,
        "command": command + (" --skip-long" if skip_long else ""),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "machine": machine(),
        "versions": versions(),
        "authorize": authorize,
        "connect": connect,
        "fanout": fanout,
        "soak": soak,
        "idle": idle,
        "not_measured": not_measured,
    }
    result["ratios"] = report.ratios(result)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description="roomkey benchmarks (see docs/benchmarks.md)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (median)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results"))
    p.add_argument(
        "--skip-long", action="store_true", help="leave out the soak and idle-connections runs"
    )
    args = p.parse_args()
    sizes = SMOKE if args.smoke else FULL
    rounds = args.rounds or (1 if args.smoke else 3)
    result = run(sizes, rounds, args.smoke, args.skip_long)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "results.md").write_text(report.markdown(result))
    report.chart(result, out / "results.png")
    print(report.markdown(result))


if __name__ == "__main__":
    main()
