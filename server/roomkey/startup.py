"""What ``roomkey serve`` checks before it serves, the exit codes it ends with, and the one
line it logs at start.

Each failure at start is one line on stderr and its own exit code (``roomkey --help`` and
docs/operations.md list them):

====  ==================================================================================
0     stopped on SIGTERM/SIGINT
1     any other failure (an installed library roomkey's guards no longer fit...)
2     bad usage or a bad configuration (every problem listed, one line each)
3     a listener cannot bind its address (port in use, address not on this machine)
4     Redis (``redis.url``, ``session.redis_url``) unreachable or refusing at start
5     no web root: roomkey.js, the demo or socket.io-client's browser build missing
====  ==================================================================================

A failure is raised as ``StartupError`` (its message, its code) and printed by the CLI.
Nothing here is needed by an application that embeds roomkey (``roomkey.setup``): Redis
being away later is an outage roomkey rides out, not a reason to stop.
"""

from __future__ import annotations

import asyncio

from roomkey import __version__
from roomkey.config import Settings
from roomkey.config.sources import redacted_url

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_BIND = 3
EXIT_REDIS = 4
EXIT_WEB_ROOT = 5

EXIT_CODES_HELP = (
    "exit codes: 0 stopped by a signal; 1 other failure; 2 bad usage or configuration; "
    "3 cannot bind (port in use); 4 Redis unreachable at start; 5 web root missing "
    "(roomkey.js, demo, socket.io-client)"
)


class StartupError(Exception):
    """Why ``roomkey serve`` cannot start: one line (``message``) and its exit ``code``."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def redis_urls(settings: Settings) -> list[tuple[str, str]]:
    """``(setting path, URL)`` of every Redis server ``settings`` use."""
    urls = []
    if settings.redis.url:
        urls.append(("redis.url", settings.redis.url))
    s = settings.session
    if s.enabled and s.store == "redis" and s.redis_url and s.redis_url != settings.redis.url:
        urls.append(("session.redis_url", s.redis_url))
    return urls


def check_redis(settings: Settings) -> None:
    """PING every Redis server ``settings`` use, within ``redis.operation_timeout_seconds``;
    ``StartupError`` (``EXIT_REDIS``) naming the first that does not answer."""
    urls = redis_urls(settings)
    if not urls:
        return
    # Imported here: a configuration without Redis never loads redis-py for this.
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    timeout = settings.redis.operation_timeout_seconds

    async def ping(url: str) -> str | None:
        client = aioredis.Redis.from_url(
            url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            await asyncio.wait_for(client.ping(), timeout * 2)
        except (aioredis.RedisError, OSError, TimeoutError) as exc:
            return str(exc) or type(exc).__name__
        finally:
            await client.aclose()
        return None

    for path, url in urls:
        problem = asyncio.run(ping(url))
        if problem is not None:
            raise StartupError(
                f"cannot reach Redis at {redacted_url(url)} ({path}): {problem}", EXIT_REDIS
            )


def check_web_root(settings: Settings) -> str:
    """The web root ``roomkey serve`` will serve (``http.static.locate_web_root``);
    ``StartupError`` (``EXIT_WEB_ROOT``) when there is none or it cannot serve the client."""
    from roomkey.http.static import WebRoot, locate_web_root

    path = locate_web_root(settings.server.web_root)
    if path is None:
        raise StartupError(
            "no web root: this roomkey has no roomkey.js in its package and no checkout's web/; "
            "reinstall from a built wheel or set server.web_root to roomkey's web/ directory",
            EXIT_WEB_ROOT,
        )
    problem = WebRoot(path).missing()
    if problem is not None:
        raise StartupError(f"web root unusable: {problem}", EXIT_WEB_ROOT)
    return str(path)


def start_line(settings: Settings, web_root: str) -> str:
    """The one line logged once the client port is bound: version, address, mode, backends,
    apps (ids and keys, never secrets), workers, web root."""
    s = settings.server
    backends = "memory (one node)"
    if settings.redis.url:
        backends = f"redis {redacted_url(settings.redis.url)} prefix {settings.redis.prefix}"
    identity = [
        name
        for name, on in (("jwt", settings.jwt.enabled), ("session", settings.session.enabled))
        if on
    ]
    apps = ", ".join(f"id={a.id} key={a.key}" for a in settings.apps)
    workers = f", {s.workers} workers" if s.workers > 1 else ""
    return (
        f"roomkey {__version__} listening on http://{s.host}:{s.port} ({s.mode} mode{workers}); "
        f"backends: {backends}; identity: {'+'.join(identity) or 'none'}; "
        f"apps: {apps}; web root: {web_root}"
    )
