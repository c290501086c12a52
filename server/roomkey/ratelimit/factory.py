"""The rate limiter a configuration asks for: Redis when ``redis.url`` is set, else memory."""

from __future__ import annotations

from roomkey.config import Settings
from roomkey.ratelimit.base import RateLimiter
from roomkey.ratelimit.memory import MemoryRateLimiter
from roomkey.ratelimit.redis import RedisRateLimiter


def create_rate_limiter(settings: Settings) -> RateLimiter:
    r = settings.redis
    if r.url:
        return RedisRateLimiter(r.url, prefix=r.prefix, timeout=r.operation_timeout_seconds)
    return MemoryRateLimiter()
