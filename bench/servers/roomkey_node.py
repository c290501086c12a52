"""roomkey as the benchmark runs it: the real application from ``create_app`` with one app
(``bench-key``), JWT identity and channel rules, plus the bench-only publish hook.

The hook publishes through the hub exactly as the REST API would (``hub.publish``); it lives
here, in the wrapper, and is never part of roomkey itself.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from aiohttp import web

from bench.servers.hook import add_publish_route
from roomkey.app import create_app
from roomkey.config import (
    AppSettings,
    JwtSettings,
    PerformanceSettings,
    RateLimits,
    RuleSettings,
    ServerSettings,
    Settings,
)
from roomkey.http.context import RUNTIME

APP_ID = "bench"
APP_KEY = "bench-key"
APP_SECRET = "bench-secret-0123456789"
JWT_SECRET = "bench-jwt-secret-0123456789-0123456789"


def bench_settings(port: int, performance: PerformanceSettings | None = None) -> Settings:
    app = AppSettings(
        id=APP_ID,
        key=APP_KEY,
        secret=APP_SECRET,
        rules=(RuleSettings("private-*"), RuleSettings("presence-*")),
    )
    return Settings(
        server=ServerSettings(host="127.0.0.1", port=port, log_level="warning"),
        jwt=JwtSettings(secret=JWT_SECRET),
        rate_limits=RateLimits(
            authorize_per_minute_per_user=0,
            authorize_per_minute_per_address=0,
            connections_per_minute_per_address=0,
            subscribes_per_minute_per_connection=0,
        ),
        apps=(app,),
        performance=performance or PerformanceSettings(),
    )


def make_app(settings: Settings) -> web.Application:
    app = create_app(settings)

    async def publish(data: str) -> None:
        rt = app[RUNTIME]
        await rt.hub.publish(rt.apps.by_key(APP_KEY), ["bench"], "tick", data)

    add_publish_route(app, publish)
    return app


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--no-direct-writes", action="store_true", help="performance.direct_writes off")
    p.add_argument("--no-gc-tuning", action="store_true", help="no gc.freeze, Python's thresholds")
    args = p.parse_args()
    perf = PerformanceSettings(direct_writes=not args.no_direct_writes)
    if args.no_gc_tuning:
        perf = replace(perf, gc_freeze=False, gc_threshold0=700, gc_threshold1=10, gc_threshold2=10)
    settings = bench_settings(args.port, perf)
    web.run_app(make_app(settings), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
