"""The Redis scenarios: roomkey as two nodes of a cluster, and ``--workers 2`` against
``--workers 1``. Each starts its own redis-server on a free port and stops everything it
started by PID.

- Two nodes: redis-server and two roomkey processes (``redis.url``) share the server CPU;
  subscribers are split between the nodes, every message is published through the REST API of
  the first one, so half of the deliveries cross Redis.
- Workers: ``roomkey serve --workers N`` as the wrapper runs it (``roomkey.process``: N
  processes on one port, ``SO_REUSEPORT``, sharing channels through Redis), allowed on every
  CPU; the load generator stays on the load CPU, so with two CPUs the second worker shares a
  core with it. Both worker counts use Redis, so the ratio measures the extra process only.
  Measured twice: by fan-out (the Python load generator, which one worker already saturates
  on two cores) and by authorize requests/s (wrk, light enough to leave the second worker
  most of its core).
"""

from __future__ import annotations

import time
from typing import Any

from bench.processes import (
    ALL_CPUS,
    SERVER_CPU,
    RedisProcess,
    ServerProcess,
    add_cpu_figures,
    run_loadgen,
)
from bench.wrk import PRIVATE_BODY, run_wrk

NODE = "bench.servers.roomkey_node"
TWO_NODES = "roomkey, 2 nodes + Redis"
# Long enough for the spawned workers to import roomkey and bind the port.
WORKER_START_SECONDS = 4.0


def workers_target(count: int) -> str:
    return f"roomkey --workers {count} (Redis)"


def measured_fanout(
    servers: list[ServerProcess],
    subscribers: int,
    fanout: tuple[int, int, float],
    timeout: float,
) -> dict[str, Any]:
    """Socket.IO subscribers spread over ``servers``, a fan-out, and the CPU all of them (with
    every worker process below them; not redis-server) used for it."""
    cpu0 = 0.0

    def ready(_: dict[str, Any]) -> None:
        nonlocal cpu0
        cpu0 = sum(s.cpu() for s in servers)

    result = run_loadgen(
        [s.port for s in servers],
        "sio",
        subscribers,
        deflate=False,
        fanout=fanout,
        timeout=timeout,
        on_ready=ready,
    )
    add_cpu_figures(result, sum(s.cpu() for s in servers) - cpu0)
    return result


def two_nodes(subscribers: int, fanout: tuple[int, int, float], timeout: float) -> dict[str, Any]:
    """Fan-out over two nodes sharing one redis-server, Socket.IO subscribers split evenly."""
    redis = RedisProcess(cpus=SERVER_CPU)
    nodes: list[ServerProcess] = []
    try:
        for _ in range(2):
            nodes.append(ServerProcess(NODE, "--redis-url", redis.url))
        time.sleep(0.3)
        return measured_fanout(nodes, subscribers, fanout, timeout)
    finally:
        for node in nodes:
            node.stop()
        redis.stop()


def workers(
    count: int, subscribers: int, fanout: tuple[int, int, float], timeout: float
) -> dict[str, Any]:
    """Fan-out from ``count`` worker processes on one port (Socket.IO subscribers)."""
    redis = RedisProcess(cpus=SERVER_CPU)
    server: ServerProcess | None = None
    try:
        server = ServerProcess(
            NODE, "--redis-url", redis.url, "--workers", str(count), cpus=ALL_CPUS
        )
        time.sleep(WORKER_START_SECONDS if count > 1 else 0.3)
        return measured_fanout([server], subscribers, fanout, timeout)
    finally:
        if server is not None:
            server.stop()
        redis.stop()


def workers_authorize_target(count: int) -> str:
    return f"roomkey private, --workers {count} (Redis)"


def workers_authorize(count: int, seconds: int, connections: int) -> dict[str, Any]:
    """Private-channel authorize requests/s (wrk) against ``count`` worker processes."""
    redis = RedisProcess(cpus=SERVER_CPU)
    server: ServerProcess | None = None
    try:
        server = ServerProcess(
            NODE, "--redis-url", redis.url, "--workers", str(count), cpus=ALL_CPUS
        )
        time.sleep(WORKER_START_SECONDS if count > 1 else 0.3)
        url = f"http://127.0.0.1:{server.port}/pusher/auth"
        return run_wrk(url, PRIVATE_BODY, seconds, connections)
    finally:
        if server is not None:
            server.stop()
        redis.stop()


def redis_round(
    fanout: tuple[int, int, int, float], timeout: float, *, reverse: bool
) -> list[tuple[str, int, dict[str, Any]]]:
    """One round of the Redis scenarios (in reverse order on odd rounds): ``(target,
    subscribers, loadgen result)`` for two nodes, one worker and two workers."""
    subscribers, burst, paced, interval = fanout
    fan = (burst, paced, interval)
    order = [0, 1, 2][::-1] if reverse else [0, 1, 2]
    out = []
    for which in order:
        if which == 0:
            out.append((TWO_NODES, subscribers, two_nodes(subscribers, fan, timeout)))
        else:
            out.append(
                (workers_target(which), subscribers, workers(which, subscribers, fan, timeout))
            )
    return out
