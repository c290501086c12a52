"""The Redis scenarios: roomkey as two nodes of a cluster, and ``--workers 2`` against
``--workers 1``. Each starts its own redis-server on a free port and stops everything it
started by PID.

- Two nodes: redis-server and two roomkey processes (``redis.url``) share the server CPU;
  subscribers are split between the nodes, every message is published through the REST API of
  the first one, so half of the deliveries cross Redis. The same on a Redis Cluster of three
  masters (``redis.cluster_nodes``, sharded pub/sub), also on the server CPU. Both report the
  CPU Redis used per message published (all its processes).
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
    RedisClusterProcess,
    RedisProcess,
    ServerProcess,
    add_cpu_figures,
    run_loadgen,
)
from bench.wrk import PRIVATE_BODY, run_wrk

NODE = "bench.servers.roomkey_node"
TWO_NODES = "roomkey, 2 nodes + Redis"
TWO_NODES_CLUSTER = "roomkey, 2 nodes + Redis Cluster (3 masters)"
# Long enough for the spawned workers to import roomkey and bind the port.
WORKER_START_SECONDS = 4.0


def workers_target(count: int) -> str:
    return f"roomkey --workers {count} (Redis)"


def measured_fanout(
    servers: list[ServerProcess],
    subscribers: int,
    fanout: tuple[int, int, float],
    timeout: float,
    redis: RedisProcess | RedisClusterProcess | None = None,
) -> dict[str, Any]:
    """Socket.IO subscribers spread over ``servers``, a fan-out, and the CPU all of them (with
    every worker process below them; not redis-server) used for it, from the subscribers
    connected to the last delivery (before they leave); with ``redis``, also the CPU it used
    per message published (``result["redis"]``), over the same window."""
    cpu0 = redis_cpu0 = cpu1 = redis_cpu1 = 0.0

    def ready(_: dict[str, Any]) -> None:
        nonlocal cpu0, redis_cpu0
        cpu0 = sum(s.cpu() for s in servers)
        redis_cpu0 = redis.cpu() if redis is not None else 0.0

    def fanned() -> None:
        # Before the clients leave: their departure is not delivery work.
        nonlocal cpu1, redis_cpu1
        cpu1 = sum(s.cpu() for s in servers)
        redis_cpu1 = redis.cpu() if redis is not None else 0.0

    result = run_loadgen(
        [s.port for s in servers],
        "sio",
        subscribers,
        deflate=False,
        fanout=fanout,
        timeout=timeout,
        on_ready=ready,
        on_fanned=fanned,
    )
    add_cpu_figures(result, cpu1 - cpu0)
    if redis is not None:
        used = redis_cpu1 - redis_cpu0
        messages = sum(int(result[m]["messages"]) for m in ("burst", "paced") if m in result)
        result["redis"] = {
            "cpu_seconds": round(used, 3),
            "cpu_ms_per_message": round(1000 * used / messages, 3) if messages else 0.0,
        }
    return result


def two_nodes(
    subscribers: int,
    fanout: tuple[int, int, float],
    timeout: float,
    *,
    redis_cluster: bool = False,
) -> dict[str, Any]:
    """Fan-out over two nodes sharing one redis-server (or a Redis Cluster), Socket.IO
    subscribers split evenly; ``result["redis"]``: the CPU Redis used per message."""
    redis: RedisProcess | RedisClusterProcess
    if redis_cluster:
        redis = RedisClusterProcess(cpus=SERVER_CPU)
        args = ("--redis-cluster", ",".join(redis.addresses))
    else:
        redis = RedisProcess(cpus=SERVER_CPU)
        args = ("--redis-url", redis.url)
    nodes: list[ServerProcess] = []
    try:
        for _ in range(2):
            nodes.append(ServerProcess(NODE, *args))
        time.sleep(0.3)
        return measured_fanout(nodes, subscribers, fanout, timeout, redis)
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
    subscribers, loadgen result)`` for two nodes (one Redis, then a Redis Cluster), one
    worker and two workers."""
    subscribers, burst, paced, interval = fanout
    fan = (burst, paced, interval)
    order = [0, 1, 2, 3][::-1] if reverse else [0, 1, 2, 3]
    out = []
    for which in order:
        if which == 0:
            out.append((TWO_NODES, subscribers, two_nodes(subscribers, fan, timeout)))
        elif which == 3:
            result = two_nodes(subscribers, fan, timeout, redis_cluster=True)
            out.append((TWO_NODES_CLUSTER, subscribers, result))
        else:
            out.append(
                (workers_target(which), subscribers, workers(which, subscribers, fan, timeout))
            )
    return out
