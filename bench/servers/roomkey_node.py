"""roomkey as the benchmark runs it: the real application from ``create_app`` with one app
(``bench-key``), JWT identity and channel rules, rate limits off (one load generator on
127.0.0.1 is every client). Publishing goes through its real REST API.

``--redis-url`` makes it a node of a cluster (Redis broker and presence), ``--redis-cluster``
the same on a Redis Cluster; ``--workers N`` runs
it as ``roomkey serve --workers N`` does (``roomkey.process``: N processes, ``SO_REUSEPORT``,
Redis required). Its metrics listener takes a free loopback port (several nodes run side by
side).

``--probe`` (the soak scenario, ``bench/soak.py``) serves the same application with one more
route, ``GET /bench/sizes``: ``roomkey.internal_sizes`` plus the process's asyncio tasks and
the garbage collector's counts (``?collect=1`` runs a full collection first; ``?trim=1``
then also asks the C allocator to hand free memory back to the system, ``malloc_trim``).
"""

from __future__ import annotations

import argparse
import resource
from dataclasses import replace

from roomkey.config import (
    AppSettings,
    JwtSettings,
    MetricsSettings,
    PerformanceSettings,
    RateLimits,
    RedisSettings,
    RuleSettings,
    ServerSettings,
    Settings,
)
from roomkey.process import run_server, run_workers

APP_ID = "bench"
APP_KEY = "bench-key"
APP_SECRET = "bench-secret-0123456789"
JWT_SECRET = "bench-jwt-secret-0123456789-0123456789"


def bench_settings(
    port: int,
    performance: PerformanceSettings | None = None,
    *,
    redis_url: str = "",
    redis_cluster: tuple[str, ...] = (),
    workers: int = 1,
) -> Settings:
    app = AppSettings(
        id=APP_ID,
        key=APP_KEY,
        secret=APP_SECRET,
        rules=(RuleSettings("private-*"), RuleSettings("presence-*")),
    )
    return Settings(
        server=ServerSettings(host="127.0.0.1", port=port, log_level="warning", workers=workers),
        redis=RedisSettings(url=redis_url, cluster_nodes=redis_cluster),
        jwt=JwtSettings(secret=JWT_SECRET),
        rate_limits=RateLimits(
            authorize_per_minute_per_user=0,
            authorize_per_minute_per_address=0,
            connections_per_minute_per_address=0,
            subscribes_per_minute_per_connection=0,
        ),
        apps=(app,),
        performance=performance or PerformanceSettings(),
        metrics=MetricsSettings(port=0),
    )


def serve_probed(settings: Settings) -> None:
    """The application with ``GET /bench/sizes`` added (aiohttp's ``run_app``: the soak
    measures memory, not speed)."""
    import asyncio
    import contextlib
    import ctypes
    import gc

    from aiohttp import web

    from roomkey.app import create_app
    from roomkey.internal_sizes import internal_sizes

    app = create_app(settings)

    async def sizes(request: web.Request) -> web.Response:
        if request.query.get("collect") or request.query.get("trim"):
            gc.collect()
        if request.query.get("trim"):
            with contextlib.suppress(OSError, AttributeError):
                ctypes.CDLL("libc.so.6").malloc_trim(0)
        out: dict[str, object] = dict(internal_sizes(request.app))
        out["asyncio.tasks"] = len(asyncio.all_tasks())
        out["gc.counts"] = list(gc.get_count())
        return web.json_response(out)

    app.router.add_get("/bench/sizes", sizes)
    web.run_app(app, host="127.0.0.1", port=settings.server.port, access_log=None, print=None)


def main() -> None:
    # Every socket is a file: as many as the system lets this process hold (the 100k idle
    # connections scenario; bench/idle.py reports when the hard limit is below its count).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--no-direct-writes", action="store_true", help="performance.direct_writes off")
    p.add_argument("--redis-url", default="", help="redis.url: a node of a cluster")
    p.add_argument(
        "--redis-cluster", default="", help="redis.cluster_nodes, comma-separated host:port"
    )
    p.add_argument("--workers", type=int, default=1, help="server.workers (needs --redis-url)")
    p.add_argument("--no-gc-tuning", action="store_true", help="no gc.freeze, Python's thresholds")
    p.add_argument("--no-peek-body", action="store_true", help="performance.peek_body off")
    p.add_argument("--no-relay-frames", action="store_true", help="performance.relay_frames off")
    p.add_argument("--probe", action="store_true", help="add GET /bench/sizes (soak)")
    args = p.parse_args()
    perf = PerformanceSettings(
        direct_writes=not args.no_direct_writes,
        peek_body=not args.no_peek_body,
        relay_frames=not args.no_relay_frames,
    )
    if args.no_gc_tuning:
        perf = replace(perf, gc_freeze=False, gc_threshold0=700, gc_threshold1=10, gc_threshold2=10)
    cluster_nodes = tuple(n for n in args.redis_cluster.split(",") if n)
    settings = bench_settings(
        args.port,
        perf,
        redis_url=args.redis_url,
        redis_cluster=cluster_nodes,
        workers=args.workers,
    )
    if args.workers > 1:
        raise SystemExit(run_workers(settings))
    if args.probe:
        serve_probed(settings)
        return
    run_server(settings)


if __name__ == "__main__":
    main()
