"""The rate limiter a configuration asks for: Redis when ``[redis]`` names a topology (a url,
sentinels or cluster nodes), else memory."""

from __future__ import annotations

from roomkey.config import Settings
from roomkey.ratelimit.base import RateLimiter
from roomkey.ratelimit.memory import MemoryRateLimiter
from roomkey.ratelimit.redis import RedisRateLimiter


def create_rate_limiter(settings: Settings) -> RateLimiter:
    r = settings.redis
    if r.enabled:
        return RedisRateLimiter(r)
    return MemoryRateLimiter()
